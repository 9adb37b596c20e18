"""Building whisper-cli (the pin, the cache keyed by pin and flags, the source check) and the binding."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_api.engine import whisper_cli_build
from whisper_api.engine.whisper_cli_build import PIN, SourcePin, build_key, build_whisper_cli, read_stamp
from whisper_api.errors import EngineError
from whisper_api.models.catalogue import BY_NAME

VENDOR = Path(__file__).resolve().parents[1] / "vendor" / "whisper.cpp"


def seed_cache(cache: Path, cmake_args: list[str]) -> Path:
    entry = cache / build_key(cmake_args)
    entry.mkdir(parents=True)
    for name in ("whisper-cli", "whisper-quantize"):
        (entry / name).write_text("#!/bin/sh\nexit 0\n")
        (entry / name).chmod(0o755)
    (entry / "whisper-cli.json").write_text(json.dumps({"key": build_key(cmake_args), "whisper_cpp": "1.8.5"}))
    return entry


def test_a_cached_build_is_installed_and_then_left_alone(tmp_path: Path) -> None:
    seed_cache(tmp_path / "cache", [])
    messages: list[str] = []
    target = build_whisper_cli(tmp_path / "bin", cache_dir=tmp_path / "cache", log=messages.append)
    assert target.is_file() and target.stat().st_mode & 0o111
    assert (target.parent / "whisper-quantize").stat().st_mode & 0o111
    assert read_stamp(target) == {"key": build_key([]), "whisper_cpp": "1.8.5"}
    assert any("cached build" in message for message in messages)
    build_whisper_cli(tmp_path / "bin", cache_dir=tmp_path / "cache", log=messages.append)
    assert "up to date" in messages[-1]


def test_the_cache_key_follows_the_pin_and_the_flags() -> None:
    assert build_key([]) == build_key([])
    assert build_key([]) != build_key(["-DGGML_CUDA=ON"])


def test_the_vendor_folder_names_the_same_pin_as_the_code() -> None:
    readme = (VENDOR / "README.md").read_text()
    assert PIN.requirement in readme and PIN.sha256 in readme and PIN.whisper_cpp in readme


def test_a_source_archive_with_another_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin = SourcePin(dataclasses.replace(PIN.source, sha256="0" * 64), PIN.whisper_cpp)
    monkeypatch.setattr(whisper_cli_build, "PIN", pin)
    with pytest.raises(EngineError, match="expected sha256 0000"):
        build_whisper_cli(tmp_path / "bin", cache_dir=tmp_path / "cache", log=lambda _: None)
    assert not (tmp_path / "bin").exists()


CHECKOUT = Path(__file__).resolve().parents[1]


NO_COMPILER = shutil.which("cmake") is None or shutil.which("c++") is None


@pytest.mark.skipif(NO_COMPILER, reason="needs cmake and a C++ compiler")
@pytest.mark.timeout(1200)  # compiles whisper.cpp: 3 minutes alone, over 5 beside another test worker on 2 cores
def test_the_binding_built_for_this_cpu_replaces_the_wheel_and_transcribes_with_the_vad(
        tmp_path: Path, tiny_en: Path, real_models: Path, jfk: Path) -> None:
    venv, package = tmp_path / "venv", tmp_path / "package"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    package.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):  # a copy: pip builds in the source folder
        shutil.copy(CHECKOUT / name, package / name)
    shutil.copytree(CHECKOUT / "whisper_api", package / "whisper_api", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(package)], check=True,
                   cwd=tmp_path)  # as a user installs it: with the published pywhispercpp wheel
    models = tmp_path / "models"
    models.mkdir()
    for model in (tiny_en, real_models / BY_NAME["silero-vad"].filename):
        shutil.copyfile(model, models / model.name)
    environment = {**os.environ, "WHISPER_API_HOME": str(tmp_path / "home"), "WHISPER_API_MODELS_DIR": str(models)}

    def whisper_api(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin" / "whisper-api"), *args], capture_output=True, text=True,
                              env=environment, check=True)

    assert "built without" in whisper_api("engine", "info").stderr  # the wheel: no matrix kernels
    built = whisper_api("engine", "build", "--binding")
    assert "built for this CPU" in built.stderr
    assert "built without" not in whisper_api("engine", "info").stderr
    assert "is this build already" in whisper_api("engine", "build", "--binding").stderr  # nothing to rebuild
    text = whisper_api("transcribe", str(jfk), "--model", "tiny.en", "--language", "en").stdout
    assert "ask not what your country can do for you" in text.lower()
