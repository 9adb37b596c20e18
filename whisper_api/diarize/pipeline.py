"""Who spoke when, from one channel's samples and its speech probabilities: speech regions,
window embeddings, clustering, turns."""

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
from whisper_api.diarize.features import HOP
from whisper_api.diarize.resegment import resegment
from whisper_api.diarize.turns import speaker_turns
from whisper_api.diarize.windows import check, embed_regions
from whisper_api.options import DiarizeOptions
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.regions import DIARIZE_RULES, Region, speech_regions

MIN_TURN = 0.3
"""Seconds: a shorter switch of speaker inside a stretch of speech is taken for an error."""


@dataclass(frozen=True)
class Diarization:
    turns: tuple[SpeakerTurn, ...]
    speakers: int
    warnings: tuple[str, ...] = ()


def find_speech(probabilities: FloatArray, duration: float) -> list[Region]:
    return speech_regions(probabilities, FRAME_SECONDS, duration, DIARIZE_RULES)


def voiced_frames(probabilities: FloatArray, sample_count: int) -> BoolArray:
    """Which 10 ms frames (the speaker features' grid) the VAD heard speech in."""
    frames = np.arange(1 + sample_count // HOP) * HOP // FRAME_SAMPLES
    return np.asarray(probabilities[np.minimum(frames, len(probabilities) - 1)] >= DIARIZE_RULES.onset)


def diarize_speakers(samples: FloatArray, probabilities: FloatArray, encoder: SpeakerEncoder,
                     options: DiarizeOptions, cancel: threading.Event | None = None) -> Diarization:
    duration = len(samples) / SAMPLE_RATE
    regions = find_speech(probabilities, duration)
    if not regions:
        return Diarization((), 0)
    starts, embeddings = embed_regions(samples, regions, encoder, cancel)
    _, centres = cluster(embeddings, options.threshold, options.speakers)
    turns = speaker_turns(regions, starts, embeddings, centres, MIN_TURN)
    check(cancel)
    turns = resegment(samples, regions, turns, voiced_frames(probabilities, len(samples)), MIN_TURN)
    return Diarization(renumbered(turns), len({turn.speaker for turn in turns}))


def renumbered(turns: Sequence[SpeakerTurn]) -> tuple[SpeakerTurn, ...]:
    """Speakers numbered 0, 1, ... by first appearance, without gaps (resegmentation can drop one)."""
    numbers: dict[int, int] = {}
    for turn in turns:
        numbers.setdefault(turn.speaker, len(numbers))
    return tuple(dataclasses.replace(turn, speaker=numbers[turn.speaker]) for turn in turns)
