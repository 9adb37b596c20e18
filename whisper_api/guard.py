"""The repetition filter: whisper's decoding loops, taken out of the segments an engine returns.

Pure functions on Segments, no I/O. Two loop shapes are removed (see docs/hallucination-guard.md):
a segment that says again what the segment before it said (unless its audio, decoded alone, says
it again too), and a word or phrase repeated over and over inside one segment, which keeps its
first occurrence.
"""

from __future__ import annotations

import dataclasses
import difflib
import string
from collections.abc import Callable, Sequence

from whisper_api.transcript import Segment, Word

MAX_PHRASE_WORDS = 8
"""The longest phrase looked for as a repeating unit; whisper's loops are usually a word or a short sentence."""
LOOP_REPEATS = {1: 5, 2: 4}
"""How many times in a row a phrase of that many words must occur to be a loop; longer phrases: 3.
Speech repeats short units for emphasis ("no, no, no", "very very", "thank you, thank you, thank you"),
so one word needs a run of five and two words a run of four; a phrase of three or more words said three
times running is, in whisper's output, almost always the decoder looping, not the speaker."""
PHRASE_LOOP_REPEATS = 3
ECHO_GAP = 0.1
"""Seconds between two segments with the same words, at most, for the second to count as a loop."""
DecodeAlone = Callable[[Segment], Sequence[Segment]]
"""Decodes one segment's audio on its own, with no earlier text to condition on (the core's engine)."""
_STRIPPED = string.punctuation + string.whitespace + "¿¡…«»\u201c\u201d\u2018\u2019"  # and curly quotes


def remove_loops(segments: Sequence[Segment], decode_alone: DecodeAlone | None = None) -> tuple[Segment, ...]:
    """The segments without repeated segments and with in-segment loops collapsed (one channel's segments).
    With ``decode_alone``, a segment that repeats the one before it is kept when its own audio says it;
    once a repeat is found to be a loop, the loop's further repeats are dropped without asking."""
    kept: list[Segment] = []
    decoded_end = -1.0  # where the engine's previous segment ended, before any collapsing
    looping = False  # a repeat of kept[-1] was found to be a loop
    for segment in segments:
        collapsed = collapse_repeats(segment)
        # An echo is the segment before said again: whisper re-decoding its own output, unless the
        # segment's own audio (from where the one before ended, if they overlap) says it too.
        echo = bool(kept and collapsed.words) and _is_echo(collapsed, kept[-1], decoded_end)
        if echo and not looping and decode_alone is not None:
            own = dataclasses.replace(collapsed, start=max(collapsed.start, decoded_end))
            echo = looping = not _said_again(collapsed, decode_alone(own))
        decoded_end = segment.end
        if not echo:
            kept.append(collapsed)
            looping = False
    return tuple(kept)


def _is_echo(segment: Segment, before: Segment, before_end: float) -> bool:
    """The same words straight after: a loop's segments abut, while a reply said again ("Yes." ...
    "Yes.") follows a pause."""
    return segment.start - before_end <= ECHO_GAP and _key(segment.words) == _key(before.words)


def _said_again(segment: Segment, alone: Sequence[Segment]) -> bool:
    """Whether its audio decoded alone gives back most of the segment's words: the speaker said them
    twice. A decoding loop copies the text before it, which the audio under the copy does not hold."""
    words = _key(segment.words)
    heard = _key(tuple(word for part in alone for word in part.words))
    matching = difflib.SequenceMatcher(None, words, heard, autojunk=False).get_matching_blocks()
    return 2 * sum(block.size for block in matching) > len(words)


def collapse_repeats(segment: Segment) -> Segment:
    """The segment with every looping run of a phrase reduced to its first occurrence (and its timings)."""
    words = segment.words
    keys = _key(words)
    kept: list[Word] = []
    position = 0
    while position < len(words):
        length, repeats = _loop_at(keys, position)
        kept.extend(words[position:position + length])
        position += length * repeats
    if len(kept) == len(words):
        return segment
    # A loop at the end was not speech: the segment now ends with the last word kept.
    end = segment.end if kept[-1] is words[-1] else max(segment.start, kept[-1].end)
    return dataclasses.replace(segment, words=tuple(kept), end=end)


def _loop_at(keys: tuple[str, ...], position: int) -> tuple[int, int]:
    """(phrase length, times in a row) of the shortest looping phrase starting here, else (1, 1)."""
    for length in range(1, MAX_PHRASE_WORDS + 1):
        repeats = _run(keys, position, length)
        if repeats >= LOOP_REPEATS.get(length, PHRASE_LOOP_REPEATS):
            return length, repeats
    return 1, 1


def _run(keys: tuple[str, ...], position: int, length: int) -> int:
    """How many times the phrase of ``length`` words at ``position`` occurs back to back from there."""
    phrase = keys[position:position + length]
    if len(phrase) < length:
        return 0
    repeats = 1
    while keys[position + repeats * length:position + (repeats + 1) * length] == phrase:
        repeats += 1
    return repeats


def _key(words: Sequence[Word]) -> tuple[str, ...]:
    """Words as compared: case and surrounding punctuation do not count ("No," repeats "no")."""
    return tuple(word.text.strip(_STRIPPED).casefold() or word.text for word in words)
