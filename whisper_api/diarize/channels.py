"""Channel diarization: one speaker per audio channel, as in two-party call recordings.

Each 32 ms frame of speech (found on the mix) belongs to the channel that is loudest in it;
short switches are absorbed like any other too-short turn.
"""

from __future__ import annotations

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.diarize.arrays import Floats
from whisper_api.diarize.pipeline import MIN_TURN, Diarization, find_speech
from whisper_api.diarize.turns import absorb_short, runs_to_turns
from whisper_api.options import require_channels
from whisper_api.transcript import SpeakerTurn
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS


def _frame_energy(samples: FloatArray) -> Floats:
    """(frames, channels) mean energy per 32 ms frame."""
    padded = np.pad(samples, ((0, -len(samples) % FRAME_SAMPLES), (0, 0)))
    frames = padded.reshape(-1, FRAME_SAMPLES, samples.shape[1])
    energy: Floats = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return energy


def diarize_channels(samples: FloatArray, probabilities: FloatArray) -> Diarization:
    """``samples``: (frames, channels) at 16 kHz; ``probabilities``: speech per 32 ms frame of the mix."""
    require_channels(samples.shape[1])
    energy = _frame_energy(samples)
    loudest = np.argmax(energy, axis=1)
    share = energy.max(axis=1) / np.maximum(energy.sum(axis=1), 1e-12)
    regions = find_speech(probabilities, len(samples) / SAMPLE_RATE)
    turns: list[SpeakerTurn] = []
    for region in regions:
        first = int(region.start / FRAME_SECONDS)
        last = max(first + 1, min(int(np.ceil(region.end / FRAME_SECONDS)), len(loudest)))
        edges = np.clip(np.arange(first, last + 1) * FRAME_SECONDS, region.start, region.end)
        turns.extend(absorb_short(runs_to_turns(edges, loudest[first:last], share[first:last]), MIN_TURN))
    return Diarization(tuple(turns), samples.shape[1])
