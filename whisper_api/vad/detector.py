"""Voice activity per 32 ms frame: Silero through whisper.cpp, or the energy detector without a model."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from whisper_api.audio import FloatArray, Samples
from whisper_api.errors import TranscriptionCancelled
from whisper_api.models import VAD_MODEL, ModelStore
from whisper_api.vad import FRAME_SAMPLES
from whisper_api.vad.energy import EnergyVad

STEP_SAMPLES = FRAME_SAMPLES * 1875
"""A minute of audio: how much of a whole recording the VAD takes per call."""


class VoiceActivity(Protocol):
    def probabilities(self, frames: FloatArray) -> FloatArray:
        """Speech probability of each 512-sample frame, in stream order (the detector keeps state)."""

    def close(self) -> None: ...


def vad_model_path(models: ModelStore) -> Path | None:
    """The installed Silero model, if any."""
    path = models.path_for(VAD_MODEL)
    return path if path.is_file() else None


def open_vad(model_path: Path | None) -> VoiceActivity:
    """Silero from ``model_path``, or the energy detector when there is no model."""
    if model_path is None:
        return EnergyVad()
    from whisper_api.vad.silero import SileroVad  # loads the whisper.cpp binding: only when there is a model

    return SileroVad(model_path)


def speech_probabilities(samples: Samples, vad: VoiceActivity, cancel: threading.Event | None = None) -> FloatArray:
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


def probabilities_with(model_path: Path | None, samples: Samples, cancel: threading.Event | None = None) -> FloatArray:
    """Silero's speech probability for every frame of a whole recording, from a fresh model state (the
    energy detector's without a model)."""
    vad = open_vad(model_path)
    try:
        return speech_probabilities(samples, vad, cancel)
    finally:
        vad.close()
