"""Voice activity without a model: each frame's level against a running estimate of the noise floor.

The fallback when no VAD model is installed (``whisper-api models download silero-vad``): it works
on clean recordings, but noise or music as loud as the voice counts as speech.
"""

from __future__ import annotations

import math

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.vad import FRAME_SAMPLES

SPEECH_MARGIN_DB = 12.0
"""How far above the noise floor a frame must be to count as speech."""
QUIETEST_SPEECH_DB = -50.0
FLOOR_RISE_DB = 0.05
"""Per frame, how fast the floor estimate may rise (it drops at once): 1.5 dB per second."""


class EnergyVad:
    """A noise-floor tracker: a frame well above the floor is speech."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.floor_db = QUIETEST_SPEECH_DB - SPEECH_MARGIN_DB

    def probabilities(self, frames: FloatArray) -> FloatArray:
        levels = frames.reshape(-1, FRAME_SAMPLES).astype(np.float64)
        decibels = 10 * np.log10(np.mean(levels * levels, axis=1) + 1e-12)
        probabilities = np.empty(decibels.size, np.float32)
        for index, level in enumerate(decibels):
            threshold = max(self.floor_db + SPEECH_MARGIN_DB, QUIETEST_SPEECH_DB)
            probabilities[index] = 1 / (1 + math.exp(-(level - threshold) / 2))
            self.floor_db = min(level, self.floor_db + FLOOR_RISE_DB)
        return probabilities

    def close(self) -> None:
        pass
