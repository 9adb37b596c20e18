"""RTTM, the diarization scoring format: one ``SPEAKER`` line per turn."""

from __future__ import annotations

from collections.abc import Iterable

from whisper_api.transcript import SpeakerTurn


def speaker_label(speaker: int) -> str:
    return f"speaker_{speaker}"


def to_rttm(turns: Iterable[SpeakerTurn], recording: str) -> str:
    """``recording`` names the file (its stem, by convention); it must not contain spaces."""
    uri = recording.replace(" ", "_") or "audio"
    return "".join(f"SPEAKER {uri} 1 {turn.start:.3f} {turn.duration:.3f} <NA> <NA> "
                   f"{speaker_label(turn.speaker)} <NA> <NA>\n" for turn in turns)
