"""Plain text: one line per segment."""

from __future__ import annotations

from whisper_api.transcript import Transcript


def to_text(transcript: Transcript) -> str:
    text = transcript.text
    return text + "\n" if text else ""
