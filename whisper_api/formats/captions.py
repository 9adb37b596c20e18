"""Cues for subtitles, built from word timings by subtitle conventions.

A cue holds at most two lines of about 42 characters and at most 7 seconds; it ends at a
sentence end, a pause or a change of speaker, so captions follow the speech. Lines are balanced where the text
is broken, which reads better than a full line over a short one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from whisper_api.transcript import Transcript, Word

MAX_LINE = 42
MAX_DURATION = 7.0
PAUSE = 1.0
"""A silence this long (seconds) between words starts a new cue."""
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")  # noqa: RUF001 - CJK sentence ends


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: int | None = None
    """Who speaks, in a diarized transcript: a cue never holds two speakers."""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _fits(words: Sequence[Word]) -> bool:
    """Whether the words wrap into the allowed lines (a lone over-long word always fits)."""
    return len(words) == 1 or all(len(line) <= MAX_LINE for line in _wrap(words))


def _wrap(words: Sequence[Word]) -> tuple[str, ...]:
    text = " ".join(word.text for word in words)
    if len(text) <= MAX_LINE or len(words) < 2:
        return (text,)
    best: tuple[int, int] | None = None  # (imbalance, split index)
    for split in range(1, len(words)):
        first = " ".join(word.text for word in words[:split])
        second = " ".join(word.text for word in words[split:])
        longest = max(len(first), len(second))
        score = (max(longest - MAX_LINE, 0) * 100 + abs(len(first) - len(second)), split)
        best = min(best or score, score)
    assert best is not None
    split = best[1]
    return (" ".join(w.text for w in words[:split]), " ".join(w.text for w in words[split:]))


def _breaks_before(cue: Sequence[Word], word: Word) -> bool:
    last = cue[-1]
    return (
        word.start - last.end >= PAUSE
        or word.speaker != last.speaker
        or last.text.endswith(SENTENCE_END)
        or word.end - cue[0].start > MAX_DURATION
        or not _fits([*cue, word])
    )


def _channel_cues(words: Sequence[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for word in words:
        if groups and not _breaks_before(groups[-1], word):
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def build_cues(transcript: Transcript) -> list[Cue]:
    """Cues of every channel, in time order, never overlapping within a channel."""
    cues: list[Cue] = []
    channels = range(transcript.channels) if transcript.channels > 1 else [None]
    for channel in channels:
        groups = _channel_cues(list(transcript.words(channel)))
        for index, group in enumerate(groups):
            start = group[0].start
            end = max(group[-1].end, start + 0.01)
            if index + 1 < len(groups):
                end = min(end, groups[index + 1][0].start)
            cues.append(Cue(start, max(end, start), _wrap(group), group[0].speaker))
    cues.sort(key=lambda cue: cue.start)
    return cues
