"""The whisper-cli engine: parity with the native engine, and every way a subprocess can fail."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import noise, speechlike, write_wav
from tests.support.cli import run_cli
from whisper_api.engine import Decoding, EngineJob, EngineResult
from whisper_api.engine.native import NativeEngine
from whisper_api.engine.whisper_cli import CliEngine, find_whisper_cli
from whisper_api.errors import EngineError, TranscriptionCancelled
from whisper_api.options import TranscribeOptions

GREEDY = TranscribeOptions(language="en", temperature_fallback=False)
CLIPS = {
    "speechlike-10s": speechlike,
    "noise-35s": lambda: noise(35.0, seed=3),
    "mixed-48s-two-windows": lambda: np.concatenate([speechlike(seed=seed) for seed in range(4)]) * 0.8,
}


@pytest.fixture(scope="module")
def binary() -> Path:
    try:
        return find_whisper_cli(None, Path(tempfile.gettempdir()))
    except EngineError:
        pytest.skip("whisper-cli is not built: run `make whisper-cli`")


@pytest.fixture(scope="module")
def native() -> NativeEngine:
    return NativeEngine()


def words(result: EngineResult) -> list[tuple[str, float, float]]:
    return [(word.text, word.start, word.end) for segment in result.segments for word in segment.words]


def assert_same(native_result: EngineResult, cli_result: EngineResult) -> None:
    assert [s.text for s in native_result.segments] == [s.text for s in cli_result.segments]
    assert [w[0] for w in words(native_result)] == [w[0] for w in words(cli_result)]
    for (_, start_a, end_a), (_, start_b, end_b) in zip(words(native_result), words(cli_result), strict=True):
        assert abs(start_a - start_b) <= 0.01 and abs(end_a - end_b) <= 0.01
    for a, b in zip(native_result.segments, cli_result.segments, strict=True):
        assert abs(a.start - b.start) <= 0.01 and abs(a.end - b.end) <= 0.01
    assert native_result.language == cli_result.language


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_same_words_and_times_as_the_native_engine(native: NativeEngine, binary: Path, micro_model: Path,
                                                   clip: str) -> None:
    job = EngineJob(audio=CLIPS[clip](), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=2)
    native_result = native.transcribe(job)
    assert native_result.segments
    assert_same(native_result, CliEngine(str(binary)).transcribe(job))


@pytest.mark.parametrize(
    "options",
    [
        TranscribeOptions(temperature_fallback=False),  # language detection
        TranscribeOptions(language="de", temperature_fallback=False, initial_prompt="Guten Tag, Frau Müller."),
        TranscribeOptions(language="en", beam_size=3, temperature_fallback=False),
        TranscribeOptions(language="en", temperature_fallback=False, word_timestamps=False),
    ],
    ids=["detect", "prompt", "beam", "no-word-timestamps"],
)
def test_options_map_to_the_same_decoding(native: NativeEngine, binary: Path, micro_model: Path,
                                          options: TranscribeOptions) -> None:
    job = EngineJob(audio=speechlike(seed=5), model_path=micro_model, decoding=Decoding.of(options), threads=2)
    native_result, cli_result = native.transcribe(job), CliEngine(str(binary)).transcribe(job)
    assert_same(native_result, cli_result)
    assert native_result.language_confidence == cli_result.language_confidence


def test_progress_is_reported_from_the_child(binary: Path, micro_model: Path) -> None:
    seen: list[float] = []
    job = EngineJob(audio=noise(35.0), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=2,
                    progress=seen.append)
    CliEngine(str(binary)).transcribe(job)
    assert seen and seen == sorted(seen) and seen[-1] == 1.0


def test_cli_and_native_give_identical_srt(binary: Path, micro_model: Path, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "clip.wav", [np.concatenate([speechlike(seed=1), noise(5.0, seed=4)])])
    outputs = []
    for engine in ("native", "cli"):
        result = run_cli("transcribe", str(audio), "--engine", engine, "--whisper-cli", str(binary), "--model",
                         str(micro_model), "--language", "en", "--no-fallback", "--srt", "-o", "-")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].strip()


def test_a_bad_model_is_an_engine_error_with_the_binary_s_words(binary: Path, tmp_path: Path,
                                                               micro_model: Path) -> None:
    broken = tmp_path / "ggml-broken.bin"
    broken.write_bytes(micro_model.read_bytes()[:2_000_000])
    job = EngineJob(audio=noise(1.0), model_path=broken, decoding=Decoding.of(GREEDY), threads=1)
    with pytest.raises(EngineError, match=r"whisper-cli failed \(exit \d+\): .*") as caught:
        CliEngine(str(binary)).transcribe(job)
    assert "load" in str(caught.value) or "model" in str(caught.value)


# Failure paths of the subprocess itself, with stand-in binaries (a real whisper-cli cannot be made to
# crash or print garbage on demand). The prefix after -of is where whisper-cli writes its JSON.
FAKE_PREAMBLE = '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = "-of" ] && out="$2"; shift; done\n'


def fake_binary(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-whisper-cli"
    script.write_text(FAKE_PREAMBLE + body)
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders go here, so the test can see that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('echo "error: the model ate my homework" >&2\nexit 3\n', r"failed \(exit 3\): error: the model ate my"),
        ("kill -SEGV $$\n", r"crashed \(signal 11\)"),
        ('printf "{not json" > "$out.json"\n', "no readable JSON"),
        ('printf \'{"transcription": 5, "result": {}}\' > "$out.json"\n', "not in the expected shape"),
        ("exit 0\n", "no readable JSON"),
    ],
    ids=["exit-code", "crash", "garbage-json", "wrong-shape", "no-output"],
)
def test_subprocess_failures_are_clear_engine_errors(tmp_path: Path, micro_model: Path, private_tmp: Path,
                                                    body: str, message: str) -> None:
    engine = CliEngine(fake_binary(tmp_path, body))
    with pytest.raises(EngineError, match=message):
        engine.transcribe(EngineJob(audio=noise(1.0), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=1))
    assert list(private_tmp.iterdir()) == []


def test_a_missing_binary_says_how_to_get_one(micro_model: Path) -> None:
    with pytest.raises(EngineError, match="not found or not executable"):
        CliEngine("/nonexistent/whisper-cli").transcribe(
            EngineJob(audio=noise(1.0), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=1))


def sleeping_child(tmp_path: Path) -> tuple[str, Path]:
    pid_file = tmp_path / "child.pid"
    return fake_binary(tmp_path, f'echo $$ > "{pid_file}"\nexec sleep 60\n'), pid_file


def wait_for(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_cancel_kills_the_child_and_leaves_no_files(tmp_path: Path, micro_model: Path, private_tmp: Path) -> None:
    binary, pid_file = sleeping_child(tmp_path)
    cancel = threading.Event()
    job = EngineJob(audio=noise(1.0), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=1, cancel=cancel)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(CliEngine(binary).transcribe, job)
        pid = wait_for(pid_file)
        cancel.set()
        with pytest.raises(TranscriptionCancelled):
            future.result(30)
    assert_gone(pid)
    assert list(private_tmp.iterdir()) == []


def test_a_timeout_kills_the_child(tmp_path: Path, micro_model: Path, private_tmp: Path) -> None:
    binary, pid_file = sleeping_child(tmp_path)
    job = EngineJob(audio=noise(1.0), model_path=micro_model, decoding=Decoding.of(GREEDY), threads=1)
    with pytest.raises(EngineError, match=r"timed out after 0\.5 s"):
        CliEngine(binary, timeout=0.5).transcribe(job)
    assert_gone(wait_for(pid_file))
    assert list(private_tmp.iterdir()) == []


def test_engine_info_lists_both_engines(binary: Path, home: Path, micro_model: Path) -> None:
    (home / "models").mkdir(parents=True)
    (home / "models" / "ggml-micro.bin").write_bytes(micro_model.read_bytes())
    result = run_cli("engine", "info", "--whisper-cli", str(binary),
                     env={"COLUMNS": "400", "WHISPER_API_MODEL": "micro"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.decode().splitlines() if line.count("│") > 4}
    assert "1.8.5" in rows["native"] and "AVX" in rows["native"]
    assert str(binary) in rows["cli"] and "1.8.5" in rows["cli"]
    assert "AVX" in rows["cli"]  # probed by running the binary with the default model


def test_engine_info_without_a_binary_says_so(tmp_path: Path) -> None:
    result = run_cli("engine", "info", "--whisper-cli", str(tmp_path / "none"), env={"COLUMNS": "400"})
    assert result.returncode == 0
    cli_row = next(line for line in result.stdout.decode().splitlines() if line.startswith("│ cli"))
    assert "not found" in cli_row
