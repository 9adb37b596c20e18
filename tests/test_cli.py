"""The real ``whisper-api`` command, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import srt
import webvtt

from tests.support.audio_files import convert
from tests.support.cli import run_cli
from tests.support.http_server import ServedFiles, serve

FAST = ("--no-fallback",)


@pytest.fixture
def model_args(micro_model: Path) -> tuple[str, ...]:
    return ("--model", str(micro_model), *FAST)


def test_version_and_help_on_every_command() -> None:
    assert run_cli("--version").stdout.decode().startswith("whisper-api ")
    for command in ([], ["transcribe"], ["models"], ["models", "list"], ["models", "download"], ["models", "rm"],
                    ["models", "path"], ["config"], ["batch"], ["batch", "submit"], ["batch", "status"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0, command
        assert "Usage" in result.stdout.decode()


def test_srt_vtt_and_json_files_beside_the_input(speechlike_wav: Path, tmp_path: Path,
                                                 model_args: tuple[str, ...]) -> None:
    audio = tmp_path / "talk.wav"
    shutil.copyfile(speechlike_wav, audio)
    result = run_cli("transcribe", str(audio), "--srt", "--vtt", "--json", *model_args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    cues = list(srt.parse((tmp_path / "talk.srt").read_text()))
    assert all(0 <= cue.start.total_seconds() <= cue.end.total_seconds() <= 10 for cue in cues)
    webvtt.from_buffer(io.StringIO((tmp_path / "talk.vtt").read_text()))
    data = json.loads((tmp_path / "talk.json").read_text())
    assert data["duration"] == 10.0
    assert "wrote" in result.stderr.decode()


def test_no_format_prints_text(speechlike_wav: Path, model_args: tuple[str, ...]) -> None:
    result = run_cli("transcribe", str(speechlike_wav), *model_args)
    assert result.returncode == 0
    assert result.stdout.decode().strip()


def test_output_folder_and_several_files_with_the_model_loaded_once(
    speechlike_wav: Path, tmp_path: Path, model_args: tuple[str, ...]
) -> None:
    mp3 = convert(speechlike_wav, tmp_path / "second.mp3")
    result = run_cli("transcribe", str(speechlike_wav), str(mp3), "--txt", "-o", str(tmp_path / "out"), *model_args)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["second.txt", "speechlike.txt"]


def test_stdin_to_stdout_prints_the_result_and_nothing_else(speechlike_wav: Path, tmp_path: Path,
                                                           model_args: tuple[str, ...]) -> None:
    mp3 = convert(speechlike_wav, tmp_path / "clip.mp3")
    result = run_cli("transcribe", "-", "--srt", "-o", "-", *model_args, stdin=mp3.read_bytes())
    assert result.returncode == 0, result.stderr
    assert list(srt.parse(result.stdout.decode()))
    assert result.stderr == b""


def test_one_bad_file_is_reported_and_the_others_still_done(speechlike_wav: Path, tmp_path: Path,
                                                           model_args: tuple[str, ...]) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"garbage" * 100)
    result = run_cli("transcribe", str(broken), str(speechlike_wav), "--json", "-o", str(tmp_path), *model_args)
    assert result.returncode == 1
    errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp3" in errors[0]
    assert (tmp_path / "speechlike.json").exists()
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "file is empty"), (b"\x00\x01junk" * 64, "not a decodable audio")],
)
def test_bad_inputs_give_one_line_and_exit_1(tmp_path: Path, model_args: tuple[str, ...],
                                             content: bytes | None, message: str) -> None:
    target = tmp_path / "input.wav"
    if content is not None:
        target.write_bytes(content)
    result = run_cli("transcribe", str(target), *model_args)
    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()
    assert line.startswith(f"error: {target}: {message}")


def test_unknown_and_missing_models(speechlike_wav: Path) -> None:
    unknown = run_cli("transcribe", str(speechlike_wav), "--model", "bse.en")
    assert unknown.returncode == 1
    assert unknown.stderr.decode().strip() == (
        "error: unknown model 'bse.en' (did you mean 'base.en'?); see: whisper-api models list"
    )
    missing = run_cli("transcribe", str(speechlike_wav), "--no-download")
    assert missing.returncode == 1
    assert "whisper-api models download base" in missing.stderr.decode()


def test_bad_options_are_usage_errors(speechlike_wav: Path, model_args: tuple[str, ...]) -> None:
    two_formats = run_cli("transcribe", str(speechlike_wav), "--srt", "--vtt", "-o", "-", *model_args)
    assert two_formats.returncode == 1
    assert "one format" in two_formats.stderr.decode()
    assert run_cli("transcribe", str(speechlike_wav), "--threads", "0", *model_args).returncode == 2


def test_models_list_shows_the_catalogue_and_installed_files(home: Path, micro_model: Path) -> None:
    (home / "models").mkdir(parents=True)
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    out = run_cli("models", "list", env={"COLUMNS": "200"}).stdout.decode()
    for name in ("tiny.en", "base.en", "large-v3-turbo", "silero-vad", "micro"):
        assert name in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 4}
    assert rows["tiny.en"].rstrip("│ ").endswith("yes") and rows["base"].rstrip("│ ").endswith("yes")
    assert not rows["small"].rstrip("│ ").endswith("yes")  # no package-index copy of that one
    assert run_cli("models", "path", "micro").stdout.decode().strip() == str(home / "models" / "ggml-micro.bin")
    assert run_cli("models", "rm", "micro").returncode == 0
    assert run_cli("models", "path", "micro").returncode == 1


def test_models_download_verifies_the_checksum(home: Path) -> None:
    with serve(ServedFiles({"/ggml-tiny.en.bin": b"not the real model"})) as url:
        result = run_cli("models", "download", "tiny.en", env={"WHISPER_API_MODELS_URL": url})
    assert result.returncode == 1
    assert "checksum mismatch for ggml-tiny.en.bin" in result.stderr.decode()
    assert not (home / "models" / "ggml-tiny.en.bin").exists()


def test_transcribe_download_fetches_a_missing_model_first(home: Path, speechlike_wav: Path) -> None:
    served = ServedFiles({"/ggml-tiny.bin": b"short"})
    with serve(served) as url:
        result = run_cli("transcribe", str(speechlike_wav), "--model", "tiny", "--download",
                         env={"WHISPER_API_MODELS_URL": url})
    assert served.requests == [("/ggml-tiny.bin", None)]
    assert result.returncode == 1
    assert "checksum mismatch for ggml-tiny.bin: expected 77691713 bytes, got 5" in result.stderr.decode()


def test_acceptance_jfk_subtitles(shared: Path, tmp_path: Path, model_args: tuple[str, ...]) -> None:
    jfk = shared / "data" / "speech" / "jfk.wav"
    assert run_cli("transcribe", str(jfk), "--srt", "--vtt", "--json", "-o", str(tmp_path), *model_args).returncode == 0
    for cue in srt.parse((tmp_path / "jfk.srt").read_text()):
        assert 0 <= cue.start.total_seconds() <= cue.end.total_seconds() <= 11
    for caption in webvtt.from_buffer(io.StringIO((tmp_path / "jfk.vtt").read_text())).captions:
        assert 0 <= caption.start_in_seconds <= caption.end_in_seconds <= 11
    assert json.loads((tmp_path / "jfk.json").read_text())["duration"] == 11.0


def test_acceptance_jfk_mp3_pipeline(shared: Path, model_args: tuple[str, ...]) -> None:
    mp3 = (shared / "data" / "speech" / "jfk.mp3").read_bytes()
    result = run_cli("transcribe", "-", "--txt", "-o", "-", *model_args, stdin=mp3)
    assert result.returncode == 0
    assert result.stdout.decode().strip()
    assert result.stderr == b""


def test_inputs_whose_results_would_share_a_file_are_refused_before_any_work(
        speechlike_wav: Path, tmp_path: Path, model_args: tuple[str, ...]) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(speechlike_wav, tmp_path / folder / "talk.wav")
    result = run_cli("transcribe", str(tmp_path / "a/talk.wav"), str(tmp_path / "b/talk.wav"), "--srt",
                     "-o", str(tmp_path / "out"), *model_args)
    assert result.returncode == 1
    assert "would both write" in result.stderr.decode() and "b/talk.wav" in result.stderr.decode()
    assert not (tmp_path / "out").exists()
    mp3 = convert(speechlike_wav, tmp_path / "a/talk.mp3")
    beside = run_cli("transcribe", str(tmp_path / "a/talk.wav"), str(mp3), "--json", *model_args)
    assert beside.returncode == 1 and not (tmp_path / "a/talk.json").exists()


def test_result_files_get_the_umasks_mode(speechlike_wav: Path, tmp_path: Path, model_args: tuple[str, ...]) -> None:
    previous = os.umask(0o022)
    try:
        assert run_cli("transcribe", str(speechlike_wav), "--srt", "-o", str(tmp_path), *model_args).returncode == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / f"{speechlike_wav.stem}.srt").stat().st_mode) == 0o644


def test_models_download_goes_on_after_a_failure_and_leaves_no_empty_partial(home: Path) -> None:
    with serve(ServedFiles({})) as url:  # the mirror has nothing: small.en fails, silero-vad falls back to pip
        result = run_cli("models", "download", "small.en", "silero-vad", env={"WHISPER_API_MODELS_URL": url})
    assert result.returncode == 1
    assert "error: small.en: download failed: HTTP 404" in result.stderr.decode()
    models = {path.name for path in (home / "models").iterdir()}
    assert not [name for name in models if name.endswith(".part")]
    fallback = [line for line in result.stderr.decode().splitlines() if "fetching silero-vad from" in line]
    assert fallback and fallback[0].startswith("warning: ")  # one line, not wrapped at 80 columns
    if "error: silero-vad" in result.stderr.decode():
        pytest.skip("the package index is out of reach: silero-vad's fallback could not run")
    assert "ggml-silero-v6.2.0.bin" in models  # tried after small.en failed


def test_shell_completion_is_offered() -> None:
    """typer finds the shell from the parent process, so the command runs inside bash."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    # Two commands: with one, bash would exec it and the parent process would no longer be bash.
    result = subprocess.run([bash, "-c", f"'{sys.executable}' -m whisper_api --show-completion; exit $?"],
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert "complete" in result.stdout.decode()
