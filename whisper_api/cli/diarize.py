"""``whisper-api diarize``: speaker turns alone (no speech recognition), as RTTM or JSON.

Results go to standard output, or with ``-o DIR`` to DIR/<name>.rttm or .json; each file that
fails is reported and the rest go on, as with ``transcribe``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from whisper_api.cli import speakers as speaker_options
from whisper_api.cli.console import failed, info, warn
from whisper_api.cli.flags import flag
from whisper_api.errors import InvalidOptionError, WhisperApiError
from whisper_api.formats.rttm import speaker_label, to_rttm
from whisper_api.settings import load_settings

if TYPE_CHECKING:
    from whisper_api.core import AudioSource
    from whisper_api.diarize.pipeline import Diarization

STDIN = "-"


def diarization_json(diarization: Diarization, name: str) -> str:
    document: dict[str, Any] = {
        "file": name,
        "speakers": diarization.speakers,
        "turns": [{"start": turn.start, "end": turn.end, "speaker": turn.speaker,
                   "label": speaker_label(turn.speaker), "confidence": round(turn.confidence, 4)}
                  for turn in diarization.all_turns],
    }
    return json.dumps(document, indent=2) + "\n"


def _render(diarization: Diarization, name: str, as_json: bool) -> str:
    stem = "stdin" if name == STDIN else Path(name).stem
    return diarization_json(diarization, name) if as_json else to_rttm(diarization.all_turns, stem)


def diarize(
    files: Annotated[list[str], typer.Argument(help="Audio or video files; - reads standard input.")],
    rttm: Annotated[bool, flag("--rttm", help="RTTM lines (the default).")] = False,
    json_: Annotated[bool, flag("--json", help="JSON with the speaker turns.")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Folder for the results.")] = None,
    speakers: speaker_options.Speakers = None,
    min_speakers: speaker_options.MinSpeakers = None,
    max_speakers: speaker_options.MaxSpeakers = None,
    mode: speaker_options.Mode = "speaker",
    download: Annotated[bool | None, flag(
        "--download/--no-download", help="Fetch the speaker encoder and VAD models when missing.")] = None,
) -> None:
    """Find who spoke when, without transcribing."""
    if rttm and json_:
        raise InvalidOptionError("choose one of --rttm and --json")
    if files.count(STDIN) > 1:
        raise InvalidOptionError("standard input (-) can be read only once")
    settings = load_settings({"auto_download": download})
    options = speaker_options.diarize_options(mode, speakers, min_speakers, max_speakers)
    speaker_options.ensure_diarization_models(settings, options)
    from whisper_api.core import Transcriber  # the engine stack: loaded only when there is work (fast --help)

    failures = 0
    with Transcriber(settings) as transcriber:
        for name in files:
            try:
                source: AudioSource = sys.stdin.buffer if name == STDIN else name
                diarization = transcriber.diarize(source, options)
                for warning in diarization.warnings:
                    warn(warning)
                _write(_render(diarization, name, json_), name, "json" if json_ else "rttm", output)
            except WhisperApiError as exc:
                failed(name, exc)
                failures += 1
    if failures:
        raise typer.Exit(1)


def _write(text: str, name: str, suffix: str, folder: str | None) -> None:
    if folder is None or folder == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(folder) / f"{'stdin' if name == STDIN else Path(name).stem}.{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    info(f"wrote {target}")
