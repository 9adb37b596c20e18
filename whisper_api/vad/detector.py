"""Voice activity per 32 ms frame: Silero through whisper.cpp, or the energy detector without a model.

Silero carries a memory (an LSTM state) from frame to frame, and what it heard earlier can keep it
from hearing speech for seconds afterwards: on two AMI clips of one meeting played back to back,
it scored 14 s of the second clip's speech near zero, speech it finds when that clip plays alone,
and the batch gate cut 5 s of words. So Silero listens twice: a second model starts afresh
wherever the first falls quiet and hears the quiet stretch through, and a frame is speech if
either says so (``TwoListeners``; whole recordings, diarization and live streams alike). The
energy detector listens once: its noise floor is learned from what came before, and a fresh one
takes any steady noise for speech.
"""

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
from whisper_api.vad.regions import SpeechRules

STEP_SAMPLES = FRAME_SAMPLES * 1875
"""A minute of audio: how much of a whole recording the VAD takes per call."""
QUIET_BELOW = SpeechRules().onset
"""Every rule set's onset: a frame below it starts no speech region."""


class VoiceActivity(Protocol):
    def probabilities(self, frames: FloatArray) -> FloatArray:
        """Speech probability of each 512-sample frame, in stream order (the detector keeps state)."""

    def reset(self) -> None:
        """Forget all audio heard so far, as a new detector."""

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

    first = SileroVad(model_path)
    try:
        return TwoListeners(first, SileroVad(model_path))
    except BaseException:
        first.close()
        raise


class TwoListeners:
    """A detector with a memory, and a second one that starts afresh where the first falls quiet
    (below QUIET_BELOW) and hears each quiet stretch through; in a quiet stretch a frame's
    probability is the higher of the two. Fed in pieces, it gives what it gives fed whole."""

    def __init__(self, first: VoiceActivity, second: VoiceActivity) -> None:
        self.first, self.second = first, second
        self.quiet = False
        """Whether the last frame heard was quiet (the second listener is then mid-stretch)."""

    def probabilities(self, frames: FloatArray) -> FloatArray:
        heard = self.first.probabilities(frames)
        quiet = heard < QUIET_BELOW
        edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            if start > 0 or not self.quiet:
                self.second.reset()  # a new quiet stretch: heard with no memory of what came before
            again = self.second.probabilities(frames[start * FRAME_SAMPLES:end * FRAME_SAMPLES])
            np.maximum(heard[start:end], again, out=heard[start:end])
        self.quiet = bool(quiet[-1]) if quiet.size else self.quiet
        return heard

    def reset(self) -> None:
        self.first.reset()
        self.second.reset()
        self.quiet = False

    def close(self) -> None:
        self.first.close()
        self.second.close()


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
