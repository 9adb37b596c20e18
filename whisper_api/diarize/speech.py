"""Speech regions from per-frame speech probabilities, with hysteresis and minimum durations."""

from __future__ import annotations

from dataclasses import dataclass

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
