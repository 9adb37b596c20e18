"""WebVTT (.vtt) captions, written by the ``webvtt-py`` library."""

from __future__ import annotations

import webvtt

from whisper_api.formats.captions import Cue, build_cues
from whisper_api.transcript import Transcript


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _lines(cue: Cue) -> list[str]:
    """The cue's lines; a diarized cue is a voice span, which players show as the speaker's name."""
    if cue.speaker is None:
        return list(cue.lines)
    return [f"<v Speaker {cue.speaker}>{cue.lines[0]}", *cue.lines[1:]]


def to_vtt(transcript: Transcript) -> str:
    document = webvtt.WebVTT()
    for cue in build_cues(transcript):
        document.captions.append(webvtt.Caption(_timestamp(cue.start), _timestamp(cue.end), _lines(cue)))
    return str(document.content)
