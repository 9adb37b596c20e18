"""Building whisper-cli: the pin, the cache keyed by pin and flags, the source check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from whisper_api.engine import whisper_cli_build
from whisper_api.engine.whisper_cli_build import PIN, SourcePin, build_key, build_whisper_cli, read_stamp
from whisper_api.errors import EngineError

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
