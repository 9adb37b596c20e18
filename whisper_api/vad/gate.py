"""Speech gating: decode only what the VAD hears as speech, then put every time back.

The regions Silero finds are cut out and joined with short silences; the engine decodes that
shorter audio with no VAD of its own, and the segment and word times it returns are mapped back
to the original audio here. Doing this outside whisper.cpp keeps both engines alike, maps the
word times too (whisper.cpp's own VAD maps segment times only), and leaves no VAD state in the
whisper.cpp context for the next job (its time mapping outlives the job that made it, so a
later job without VAD on the same context would have its times shifted).

A long recording is decoded in pieces of at most ``PIECE_SECONDS`` (``pieces``), read from the
recording one piece at a time: memory holds one piece and its spectrogram, however long the
recording. Each piece starts whisper afresh, without the text before it as a prompt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray, Samples
from whisper_api.transcript import Segment, Word
from whisper_api.vad import FRAME_SECONDS
from whisper_api.vad.regions import GATE_RULES, Region, speech_regions

JOIN_SECONDS = 1.0
"""Silence put where a stretch was cut, so whisper hears a pause, not a jump."""
PIECE_SECONDS = 180.0
"""The most audio one engine call decodes. Memory holds about 3.5 times its samples (11.5 MB): the piece,
whisper.cpp's padded copy, its spectrogram and its signal energy for word times. Each piece's last
30 s window is only partly filled but costs a whole encoder run: about one run in seven is wasted at
this length (one in five at 120 s), while an hour still peaks far under the model + 300 MB
(docs/benchmarks.md, "A long file")."""
CUT_SEARCH_SECONDS = 30.0
"""Speech longer than a piece is cut where speech is least likely in its last this many seconds (at most
half of it)."""


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


def speech_regions_to_decode(probabilities: FloatArray, duration: float) -> list[Region]:
    """What the gate keeps of a recording, given one speech probability per VAD frame: none when
    there is no speech."""
    regions = speech_regions(probabilities, FRAME_SECONDS, duration, GATE_RULES)
    return _keep_short_edges(regions, duration) if regions else []


def pieces(regions: Sequence[Region], probabilities: FloatArray, limit: float) -> list[tuple[Region, ...]]:
    """The regions in order, grouped into pieces of at most ``limit`` seconds each once joined (a region
    longer than that is cut where speech is least likely)."""
    grouped: list[tuple[Region, ...]] = []
    current: list[Region] = []
    for part in (part for region in regions for part in _cut(region, probabilities, limit)):
        if current and joined_seconds([*current, part]) > limit:
            grouped.append(tuple(current))
            current = []
        current.append(part)
    return [*grouped, tuple(current)] if current else grouped


def joined_seconds(regions: Sequence[Region]) -> float:
    """How long the regions last once joined by ``gate``."""
    return sum(region.duration for region in regions) + JOIN_SECONDS * (len(regions) - 1)


def _cut(region: Region, probabilities: FloatArray, limit: float) -> list[Region]:
    """The region in parts of at most ``limit``, each cut in the last ``search`` seconds before the limit
    where speech is least likely, leaving at least ``search`` seconds after it (no sliver of speech is
    decoded on its own)."""
    search = min(CUT_SEARCH_SECONDS, limit / 2)
    parts = []
    start = region.start
    while region.end - start > limit:
        first = int((start + limit - search) / FRAME_SECONDS)
        last = max(first + 1, min(int((start + limit) / FRAME_SECONDS), int((region.end - search) / FRAME_SECONDS),
                                  len(probabilities)))
        cut = (first + int(np.argmin(probabilities[first:last])) + 0.5) * FRAME_SECONDS
        parts.append(Region(start, cut))
        start = cut
    return [*parts, Region(start, region.end)]


def gate(samples: Samples, regions: Sequence[Region]) -> GatedAudio:
    """The audio of ``regions`` (in order, from ``samples``) joined by short silences, read into one array."""
    spans = [(round(region.start * SAMPLE_RATE), round(region.end * SAMPLE_RATE)) for region in regions]
    if len(spans) == 1:
        return GatedAudio(samples[spans[0][0]:spans[0][1]], tuple(regions), (0.0,))  # a view of audio in memory
    join = round(JOIN_SECONDS * SAMPLE_RATE)
    joined = np.zeros(sum(stop - start for start, stop in spans) + join * (len(spans) - 1), np.float32)
    starts: list[float] = []
    position = 0
    for start, stop in spans:
        joined[position:position + stop - start] = samples[start:stop]
        starts.append(position / SAMPLE_RATE)
        position += stop - start + join
    return GatedAudio(joined, tuple(regions), tuple(starts))
