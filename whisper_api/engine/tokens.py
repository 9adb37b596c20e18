"""From whisper tokens to words: shared by every engine that sees token data.

whisper's BPE tokens carry the space that precedes a word, so a token that starts with a
space starts a word and the others continue it. Multi-byte characters can be split over
tokens, so words are assembled from bytes and decoded once. Punctuation-only pieces join
the word before them (or the next, at the start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from whisper_api.transcript import Segment, Word


@dataclass(frozen=True, slots=True)
class Token:
    text: bytes
    start: float
    end: float
    probability: float


def spread_evenly(tokens: Sequence[Token], start: float, end: float) -> list[Token]:
    """Give tokens times in proportion to their length, for when no token timestamps exist."""
    total = sum(max(len(token.text), 1) for token in tokens) or 1
    span = max(end - start, 0.0)
    cursor, spread = start, []
    for token in tokens:
        step = span * max(len(token.text), 1) / total
        spread.append(Token(token.text, cursor, cursor + step, token.probability))
        cursor += step
    return spread


def _is_punctuation(text: str) -> bool:
    return not any(char.isalnum() for char in text)


def _group(tokens: Sequence[Token]) -> list[list[Token]]:
    groups: list[list[Token]] = []
    for token in tokens:
        if not groups or token.text.startswith(b" "):
            groups.append([token])
        else:
            groups[-1].append(token)
    return groups


def _word(group: Sequence[Token]) -> Word:
    text = b"".join(token.text for token in group).decode("utf-8", errors="replace").strip()
    confidence = sum(token.probability for token in group) / len(group)
    return Word(text, group[0].start, group[-1].end, min(max(confidence, 0.0), 1.0))


def _join(first: Word, second: Word) -> Word:
    return Word(first.text + second.text, first.start, second.end,
                (first.confidence + second.confidence) / 2)


def merge_words(tokens: Sequence[Token], start: float, end: float) -> list[Word]:
    """Words from the text tokens of one segment, times clamped into [start, end] and ordered."""
    words: list[Word] = []
    pending: Word | None = None  # punctuation seen before any word
    for group in _group(tokens):
        word = _word(group)
        if not word.text:
            continue
        if _is_punctuation(word.text):
            if words:
                words[-1] = _join(words[-1], word)
            else:
                pending = word if pending is None else _join(pending, word)
            continue
        if pending is not None:
            word, pending = _join(pending, word), None
        words.append(word)
    if pending is not None:
        words.append(pending)
    return _clamp(words, start, end)


def _clamp(words: list[Word], start: float, end: float) -> list[Word]:
    clamped, floor = [], start
    for word in words:
        word_start = min(max(word.start, floor), end)
        word_end = min(max(word.end, word_start), end)
        clamped.append(Word(word.text, round(word_start, 3), round(word_end, 3), word.confidence))
        floor = word_start
    return clamped


def build_segment(start: float, end: float, tokens: Sequence[Token], duration: float,
                  word_timestamps: bool) -> Segment | None:
    """A Segment from one decoded segment's text tokens (None when it holds no words).

    Times are clamped to the audio; without word timestamps, words share the segment evenly.
    """
    start = min(max(start, 0.0), duration)
    end = min(max(end, start), duration)
    if not word_timestamps:
        tokens = spread_evenly(tokens, start, end)
    words = merge_words(tokens, start, end)
    return Segment(round(start, 3), round(end, 3), tuple(words)) if words else None
