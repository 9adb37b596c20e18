"""Speech gating: decode only what the VAD hears as speech, then put every time back.

The regions Silero finds are cut out and joined with short silences; the engine decodes that
shorter audio with no VAD of its own, and the segment and word times it returns are mapped back
to the original audio here. Doing this outside whisper.cpp keeps both engines alike, maps the
word times too (whisper.cpp's own VAD maps segment times only), and leaves no VAD state in the
whisper.cpp context for the next job (its time mapping outlives the job that made it, so a
later job without VAD on the same context would have its times shifted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.transcript import Segment, Word
from whisper_api.vad import FRAME_SECONDS
from whisper_api.vad.regions import GATE_RULES, Region, speech_regions

JOIN_SECONDS = 1.0
"""Silence put where a stretch was cut, so whisper hears a pause, not a jump."""


@dataclass(frozen=True)
class GatedAudio:
    samples: FloatArray
    """The speech regions, joined by short silences."""
    regions: tuple[Region, ...]
    """Where each kept region lies in the original audio, in order."""
    starts: tuple[float, ...]
    """Where each region starts in ``samples``, in seconds."""

    def original_time(self, seconds: float, start: bool = True) -> float:
        """A time in the gated audio as a time in the original. A time inside a join is not in the
        original: a start moves forward to the next region's start, an end back to the last one's end."""
        index = max(0, int(np.searchsorted(self.starts, seconds, side="right")) - 1)
        region = self.regions[index]
        offset = seconds - self.starts[index]
        if offset > region.duration and start and index + 1 < len(self.regions):
            return round(self.regions[index + 1].start, 3)
        return round(region.start + min(max(0.0, offset), region.duration), 3)

    def restore(self, segments: Sequence[Segment]) -> tuple[Segment, ...]:
        """The segments with their times, and their words' times, in the original audio."""
        restored = []
        for segment in segments:
            start, end = self._span(segment.start, segment.end)
            words = tuple(self._word(word) for word in segment.words)
            restored.append(dataclasses.replace(segment, start=start, end=end, words=words))
        return tuple(restored)

    def _span(self, start: float, end: float) -> tuple[float, float]:
        restored_start = self.original_time(start)
        return restored_start, max(restored_start, self.original_time(end, start=False))

    def _word(self, word: Word) -> Word:
        start, end = self._span(word.start, word.end)
        return dataclasses.replace(word, start=start, end=end)


def _keep_short_edges(regions: list[Region], duration: float) -> list[Region]:
    """Non-speech before the first region and after the last stays when it is shorter than a gap that
    would be cut inside the speech: only long stretches without speech are taken out, anywhere."""
    first, last = regions[0], regions[-1]
    shortest_cut = GATE_RULES.min_silence + GATE_RULES.pad  # what is left of 3 s once one side is padded
    if first.start < shortest_cut:
        regions = [Region(0.0, first.end), *regions[1:]]
    if duration - last.end < shortest_cut:
        regions = [*regions[:-1], Region(regions[-1].start, duration)]
    return regions


def gate(samples: FloatArray, probabilities: FloatArray) -> GatedAudio | None:
    """The speech in ``samples`` given one speech probability per VAD frame; None when there is none."""
    duration = len(samples) / SAMPLE_RATE
    regions = speech_regions(probabilities, FRAME_SECONDS, duration, GATE_RULES)
    if not regions:
        return None
    regions = _keep_short_edges(regions, duration)
    join = np.zeros(round(JOIN_SECONDS * SAMPLE_RATE), np.float32)
    pieces: list[FloatArray] = []
    starts: list[float] = []
    position = 0
    for region in regions:
        if pieces:
            pieces.append(join)
            position += join.size
        piece = samples[round(region.start * SAMPLE_RATE):round(region.end * SAMPLE_RATE)]
        starts.append(position / SAMPLE_RATE)
        pieces.append(piece)
        position += piece.size
    return GatedAudio(np.concatenate(pieces), tuple(regions), tuple(starts))
