"""Plain text: one line per segment; a diarized transcript gets one line per speaker turn."""

from __future__ import annotations

from collections.abc import Iterable

from whisper_api.transcript import Transcript, Word


def speaker_runs(words: Iterable[Word]) -> list[tuple[int | None, str]]:
    """The text of each run of words by one speaker, with that speaker (None: not diarized)."""
    runs: list[tuple[int | None, list[str]]] = []
    for word in words:
        if runs and runs[-1][0] == word.speaker:
            runs[-1][1].append(word.text)
        else:
            runs.append((word.speaker, [word.text]))
    return [(speaker, " ".join(texts)) for speaker, texts in runs]


def to_text(transcript: Transcript) -> str:
    lines = [f"Speaker {speaker}: {text}" for speaker, text in speaker_runs(transcript.words())]
    text = "\n".join(lines) if transcript.diarized else transcript.text
    return text + "\n" if text else ""
