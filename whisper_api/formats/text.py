"""Plain text: one line per segment; a diarized transcript gets one line per speaker turn."""

from __future__ import annotations

from whisper_api.transcript import Transcript


def _speaker_lines(transcript: Transcript) -> list[str]:
    lines: list[tuple[int | None, list[str]]] = []
    for word in transcript.words():
        if lines and lines[-1][0] == word.speaker:
            lines[-1][1].append(word.text)
        else:
            lines.append((word.speaker, [word.text]))
    return [f"Speaker {speaker}: {' '.join(words)}" for speaker, words in lines]


def to_text(transcript: Transcript) -> str:
    text = "\n".join(_speaker_lines(transcript)) if transcript.diarized else transcript.text
    return text + "\n" if text else ""
