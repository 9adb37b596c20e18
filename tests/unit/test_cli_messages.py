"""What the CLI tells a user who gets something wrong: one clear line, the same exit code everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from whisper_api.cli.app import app
from whisper_api.errors import WhisperApiError


def run(*arguments: str) -> tuple[int, str]:
    """Exit code and output, as ``main`` gives them (a WhisperApiError that ends a command is one line)."""
    result = CliRunner().invoke(app, list(arguments))
    if isinstance(result.exception, WhisperApiError):
        return 1, result.output + f"error: {result.exception}\n"
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["transcribe", "diarize", "live", "serve", "keys create", "models import"])
def test_flags_show_no_value_in_the_help(command: str) -> None:
    """``--txt <bool>`` read as if ``--txt true`` were the way to use it."""
    code, output = run(*command.split(), "--help")
    assert code == 0
    ours = [line for line in output.splitlines() if "--" in line and not any(
        name in line for name in ("--help", "--install-completion", "--show-completion"))]  # typer's own
    assert ours and not [line for line in ours if "<bool>" in line]


@pytest.mark.parametrize("command", ["transcribe", "live", "diarize"])
def test_a_missing_file_and_a_folder_are_named_and_exit_1(command: str, tmp_path: Path, micro_model: Path) -> None:
    extra = ["--no-download", "--diarize-mode", "channel"] if command == "diarize" else ["--model", str(micro_model)]
    missing, folder = tmp_path / "nosuch.wav", tmp_path / "talks"
    folder.mkdir()
    for path, problem in ((missing, "no such file"), (folder, "is a folder, not an audio file")):
        code, output = run(command, str(path), *extra)
        assert code == 1, output
        assert f"error: {path}: {problem}" in output and output.count(str(path)) == 1


def test_the_binding_build_refuses_the_install_folder_of_the_whisper_cli_build() -> None:
    code, output = run("engine", "build", "--binding", "--dest", "bin")
    assert code == 1 and "--binding installs into this Python environment" in output
