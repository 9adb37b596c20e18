"""Who spoke when, from one channel's samples and its speech probabilities: speech regions,
window embeddings, clustering, turns, resegmentation, the second speakers of overlapped speech."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.diarize.arrays import BoolArray
from whisper_api.diarize.clustering import cluster
from whisper_api.diarize.encoder import SpeakerEncoder
from whisper_api.diarize.fbank import HOP
from whisper_api.diarize.overlap import overlap_regions, overlapped_frames, second_speakers, speaker_counts
from whisper_api.diarize.resegment import resegment
from whisper_api.diarize.segmentation import SegmentationModel
from whisper_api.diarize.turns import speaker_turns
from whisper_api.diarize.windows import HOP_SECONDS, check, embed_regions
from whisper_api.options import DiarizeOptions
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.regions import DIARIZE_RULES, Region, speech_regions

MIN_TURN = 0.3
"""Seconds: a shorter switch of speaker inside a stretch of speech is taken for an error."""


@dataclass(frozen=True)
class Diarization:
    turns: tuple[SpeakerTurn, ...]
    """One speaker at a time: what words are labelled from."""
    speakers: int
    warnings: tuple[str, ...] = ()
    overlaps: tuple[SpeakerTurn, ...] = ()
    """The second speakers of overlapped speech."""

    @property
    def all_turns(self) -> tuple[SpeakerTurn, ...]:
        """Turns and overlaps, in time order (what RTTM and JSON show)."""
        return tuple(sorted((*self.turns, *self.overlaps), key=lambda turn: (turn.start, turn.end, turn.speaker)))


def find_speech(probabilities: FloatArray, duration: float) -> list[Region]:
    return speech_regions(probabilities, FRAME_SECONDS, duration, DIARIZE_RULES)


def voiced_frames(probabilities: FloatArray, sample_count: int) -> BoolArray:
    """Which 10 ms frames (the speaker features' grid) the VAD heard speech in."""
    frames = np.arange(1 + sample_count // HOP) * HOP // FRAME_SAMPLES
    return np.asarray(probabilities[np.minimum(frames, len(probabilities) - 1)] >= DIARIZE_RULES.onset)


@dataclass(frozen=True)
class SpeakerModels:
    encoder: SpeakerEncoder
    segmentation: SegmentationModel


def diarize_speakers(samples: FloatArray, probabilities: FloatArray, models: SpeakerModels,
                     options: DiarizeOptions, cancel: threading.Event | None = None) -> Diarization:
    duration = len(samples) / SAMPLE_RATE
    regions = find_speech(probabilities, duration)
    if not regions:
        return Diarization((), 0)
    counts = speaker_counts(models.segmentation, samples, cancel)
    starts, embeddings = embed_regions(samples, regions, models.encoder, cancel,
                                       overlapped_frames(counts, len(samples)))
    _, centres = cluster(embeddings, options.speakers, HOP_SECONDS)
    turns = speaker_turns(regions, starts, embeddings, centres, MIN_TURN)
    check(cancel)
    turns = resegment(samples, regions, turns, voiced_frames(probabilities, len(samples)), MIN_TURN)
    overlaps = second_speakers(overlap_regions(counts), turns, starts, embeddings @ centres.T, options.speakers)
    numbers = first_appearance([*turns, *overlaps])
    return Diarization(renumbered(turns, numbers), len(numbers), overlaps=renumbered(overlaps, numbers))


def first_appearance(turns: Sequence[SpeakerTurn]) -> dict[int, int]:
    """Speakers numbered 0, 1, ... in the order of ``turns``, without gaps (resegmentation can drop
    one); a speaker heard only in overlapped speech comes after those with turns of their own."""
    numbers: dict[int, int] = {}
    for turn in turns:
        numbers.setdefault(turn.speaker, len(numbers))
    return numbers


def renumbered(turns: Sequence[SpeakerTurn], numbers: dict[int, int]) -> tuple[SpeakerTurn, ...]:
    return tuple(dataclasses.replace(turn, speaker=numbers[turn.speaker]) for turn in turns)
