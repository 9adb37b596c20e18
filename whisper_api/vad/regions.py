"""Speech regions from per-frame speech probabilities: hysteresis, padding, bridging, minimum length.

One rule set per use, all here so they can be compared: the batch gate cuts only long non-speech,
diarization bridges short pauses inside a turn, live utterances end on the client's endpointing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from whisper_api.vad import FRAME_SECONDS

if TYPE_CHECKING:
    from whisper_api.audio import FloatArray


@dataclass(frozen=True)
class Region:
    """A stretch of speech, in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SpeechRules:
    onset: float = 0.5
    """A frame at least this likely to be speech starts a region."""
    offset: float = 0.35
    """Inside a region, speech goes on until a frame falls below this."""
    min_speech: float = 0.2
    """Shorter regions are dropped (clicks, breaths)."""
    min_silence: float = 0.3
    """Shorter gaps are bridged: a pause inside a sentence is not a turn boundary."""
    pad: float = 0.05
    """Seconds added on each side: the detector's frames start late and end early on soft sounds."""


GATE_RULES = SpeechRules(onset=0.5, offset=0.35, min_speech=0.25, min_silence=1.0, pad=1.0)
"""The batch gate (``gate``): only stretches without speech of 3 s or more (a 1 s gap after 1 s of padding on
each side) are cut, at the edges too: shorter pauses are part of natural speech, which whisper was trained
on, and cutting them changes its words (docs/benchmarks.md: conversational WER 14.1 % with 0.5 s cuts,
11.3 % as whisper alone). Whisper invents text on long silence, noise and music, and those are what goes."""
DIARIZE_RULES = SpeechRules(onset=0.5, offset=0.35, min_speech=0.2, min_silence=0.6, pad=0.2)
"""Diarization's speech: a pause under 0.6 s stays inside a speaker's turn."""
LIVE_RULES = SpeechRules(onset=0.5, offset=0.35, min_speech=4 * FRAME_SECONDS, min_silence=0.25, pad=0.3)
"""Live utterances (``streaming.channel``, frame by frame): 0.3 s kept before the first speech frame (word
onsets are quiet) and after the last; less than 128 ms of speech is a click or a breath. ``min_silence``
is the shortest endpointing: Silero's probability dips between words, and a final per dip would cut
phrases into single words that whisper then decodes badly. The client's endpointing is used when longer."""


def _raw_regions(probabilities: FloatArray, frame_seconds: float, rules: SpeechRules) -> list[Region]:
    regions: list[Region] = []
    start: int | None = None
    for index, probability in enumerate(probabilities.tolist()):
        if start is None and probability >= rules.onset:
            start = index
        elif start is not None and probability < rules.offset:
            regions.append(Region(start * frame_seconds, index * frame_seconds))
            start = None
    if start is not None:
        regions.append(Region(start * frame_seconds, len(probabilities) * frame_seconds))
    return regions


def speech_regions(probabilities: FloatArray, frame_seconds: float, duration: float,
                   rules: SpeechRules | None = None) -> list[Region]:
    """Regions of speech, padded, gap-bridged and clipped to ``[0, duration]``."""
    rules = rules or SpeechRules()
    merged: list[Region] = []
    for region in _raw_regions(probabilities, frame_seconds, rules):
        padded = Region(max(0.0, region.start - rules.pad), min(duration, region.end + rules.pad))
        if merged and padded.start - merged[-1].end < rules.min_silence:
            merged[-1] = Region(merged[-1].start, padded.end)
        else:
            merged.append(padded)
    return [region for region in merged if region.duration >= rules.min_speech]
