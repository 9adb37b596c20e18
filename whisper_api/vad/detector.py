"""Voice activity per 32 ms frame: Silero through whisper.cpp, or the energy detector without a model.

Silero carries a memory (an LSTM state) from frame to frame, and what it heard earlier can keep it
from hearing speech for seconds afterwards: on two AMI clips of one meeting played back to back,
it scored 14 s of the second clip's speech near zero, speech it finds when the clip plays alone,
and the batch gate cut 5 s of words. So in a whole recording, every stretch that a rule set could
treat as non-speech is heard again by the model from a fresh state, and a frame is speech if
either hearing says so. The energy detector is not heard again: its noise floor is learned from
what came before, and a fresh one takes any steady noise for speech.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from whisper_api.audio import FloatArray, Samples
from whisper_api.errors import TranscriptionCancelled
from whisper_api.models import VAD_MODEL, ModelStore
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.energy import EnergyVad
from whisper_api.vad.regions import DIARIZE_RULES, GATE_RULES, shortest_cut

STEP_SAMPLES = FRAME_SAMPLES * 1875
"""A minute of audio: how much of a whole recording the VAD takes per call."""
RELISTEN_RULES = (GATE_RULES, DIARIZE_RULES)
"""The rule sets whole recordings are cut with: what they could leave out is heard again."""


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


def quiet_stretches(probabilities: FloatArray) -> list[tuple[int, int]]:
    """Frame ranges ``[first, last)`` that some rule set of RELISTEN_RULES could leave outside every
    region: runs below its onset at least as long as the shortest stretch it cuts."""
    stretches: set[tuple[int, int]] = set()
    for rules in RELISTEN_RULES:
        quiet = np.r_[0, (probabilities < rules.onset).astype(np.int8), 0]
        edges = np.flatnonzero(np.diff(quiet))
        shortest = shortest_cut(rules) / FRAME_SECONDS
        stretches.update((int(first), int(last)) for first, last in zip(edges[::2], edges[1::2], strict=True)
                         if last - first >= shortest)
    return sorted(stretches)


def relisten(samples: Samples, probabilities: FloatArray, vad: VoiceActivity,
             cancel: threading.Event | None = None) -> None:
    """Each quiet stretch of ``probabilities`` (whole frames only) heard again by ``vad`` from a fresh
    state; a frame's probability becomes the higher of its two hearings (in place)."""
    whole = probabilities[:len(samples) // FRAME_SAMPLES]
    for first, last in quiet_stretches(whole):
        vad.reset()
        again = speech_probabilities(samples[first * FRAME_SAMPLES:last * FRAME_SAMPLES], vad, cancel)
        np.maximum(whole[first:last], again, out=whole[first:last])


def probabilities_with(model_path: Path | None, samples: Samples, cancel: threading.Event | None = None) -> FloatArray:
    """Silero's speech probability for every frame of a whole recording, from a fresh model state, its
    quiet stretches heard again (the energy detector's without a model)."""
    vad = open_vad(model_path)
    try:
        probabilities = speech_probabilities(samples, vad, cancel)
        if model_path is not None:
            relisten(samples, probabilities, vad, cancel)
        return probabilities
    finally:
        vad.close()
