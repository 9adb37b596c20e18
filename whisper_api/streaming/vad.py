"""Voice activity per 32 ms frame: Silero through whisper.cpp, or an energy detector without it.

The energy detector compares each frame's level with a running estimate of the noise floor. It
is the fallback when no VAD model is installed (``whisper-api models download silero-vad``): it
works on clean recordings, but noise or music as loud as the voice counts as speech.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.engine.silero import FRAME_SAMPLES
from whisper_api.errors import TranscriptionCancelled
from whisper_api.models import VAD_MODEL, ModelStore

FRAME_SECONDS = FRAME_SAMPLES / 16000
STEP_SAMPLES = FRAME_SAMPLES * 1875
"""A minute of audio: how much of a whole recording the VAD takes per call."""
SPEECH_MARGIN_DB = 12.0
"""How far above the noise floor a frame must be to count as speech."""
QUIETEST_SPEECH_DB = -50.0
FLOOR_RISE_DB = 0.05
"""Per frame, how fast the floor estimate may rise (it drops at once): 1.5 dB per second."""


class VoiceActivity(Protocol):
    def probabilities(self, frames: FloatArray) -> FloatArray:
        """Speech probability of each 512-sample frame, in stream order (the detector keeps state)."""

    def close(self) -> None: ...


class EnergyVad:
    """A noise-floor tracker: a frame well above the floor is speech."""

    def __init__(self) -> None:
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


def vad_model_path(models: ModelStore) -> Path | None:
    """The installed Silero model, if any."""
    path = models.path_for(VAD_MODEL)
    return path if path.is_file() else None


def open_vad(model_path: Path | None) -> VoiceActivity:
    """Silero from ``model_path``, or the energy detector when there is no model."""
    if model_path is None:
        return EnergyVad()
    from whisper_api.engine.silero import SileroVad

    return SileroVad(model_path)


def speech_probabilities(samples: FloatArray, vad: VoiceActivity, cancel: threading.Event | None = None) -> FloatArray:
    """One probability per 32 ms frame of the whole recording (the last frame padded with silence).
    The detector keeps its state between calls, so the recording goes a minute at a time (a set
    ``cancel`` stops it within one) and the tail on its own: no copy of the audio."""
    whole = len(samples) - len(samples) % FRAME_SAMPLES
    pieces = []
    for start in range(0, whole, STEP_SAMPLES):
        if cancel is not None and cancel.is_set():
            raise TranscriptionCancelled("transcription cancelled")
        pieces.append(vad.probabilities(samples[start:min(start + STEP_SAMPLES, whole)]))
    if whole < len(samples):
        pieces.append(vad.probabilities(np.pad(samples[whole:], (0, FRAME_SAMPLES - len(samples) + whole))))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def probabilities_with(model_path: Path, samples: FloatArray, cancel: threading.Event | None = None) -> FloatArray:
    """Silero's speech probability for every frame of a whole recording, from a fresh model state."""
    vad = open_vad(model_path)
    try:
        return speech_probabilities(samples, vad, cancel)
    finally:
        vad.close()
