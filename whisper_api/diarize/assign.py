"""Speaker per word: the turn that overlaps the word most; a word in a gap gets the nearest turn."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

from whisper_api.transcript import Segment, SpeakerTurn, Transcript, Word


def _overlap(word: Word, turn: SpeakerTurn) -> float:
    return min(word.end, turn.end) - max(word.start, turn.start)


def _gap(word: Word, turn: SpeakerTurn) -> float:
    return max(turn.start - word.end, word.start - turn.end, 0.0)


def turn_for(word: Word, turns: Sequence[SpeakerTurn], ends: Sequence[float]) -> SpeakerTurn:
    """``turns`` in time order without overlap; ``ends`` their end times (for bisection)."""
    first = bisect.bisect_right(ends, word.start)
    overlapping = []
    for turn in turns[first:]:
        if turn.start >= word.end:
            break
        overlapping.append(turn)
    if overlapping:
        return max(overlapping, key=lambda turn: _overlap(word, turn))
    neighbours = turns[max(first - 1, 0):first + 1]
    return min(neighbours, key=lambda turn: _gap(word, turn))


def _label_segment(segment: Segment, turns: Sequence[SpeakerTurn], ends: Sequence[float]) -> Segment:
    words = []
    for word in segment.words:
        turn = turn_for(word, turns, ends)
        words.append(dataclasses.replace(word, speaker=turn.speaker, speaker_confidence=round(turn.confidence, 4)))
    return dataclasses.replace(segment, words=tuple(words))


def label_words(transcript: Transcript, turns: Sequence[SpeakerTurn], speakers: int,
                shown: Sequence[SpeakerTurn] | None = None) -> Transcript:
    """The transcript with a speaker on every word and the turns attached (``shown``, when the
    turns to report differ from the one-speaker-at-a-time ``turns``: overlapped speech). The turns
    come from the mix, so with ``multichannel`` every channel's words are labelled from the same
    turns. Without any turn (no speech found, yet words), every word is speaker 0 with confidence 0."""
    labelling = list(turns) or [SpeakerTurn(0.0, transcript.duration, 0, 0.0)]
    ends = [turn.end for turn in labelling]
    segments = tuple(_label_segment(segment, labelling, ends) for segment in transcript.segments)
    found = max(speakers, 1) if any(transcript.words()) else speakers
    return dataclasses.replace(transcript, segments=segments, speaker_turns=tuple(turns if shown is None else shown),
                               speakers=found)
