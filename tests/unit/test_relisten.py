"""Quiet stretches of a whole recording are heard again from a fresh detector state (pure logic: a
detector with a memory stands in for Silero's, which tests/test_vad.py checks on real meetings)."""

from __future__ import annotations

import numpy as np

from whisper_api.audio import FloatArray
from whisper_api.vad import FRAME_SAMPLES, FRAME_SECONDS
from whisper_api.vad.detector import quiet_stretches, relisten, speech_probabilities
from whisper_api.vad.regions import DIARIZE_RULES, shortest_cut


class DeafAfterLoudness:
    """Hears a frame as speech when its level is over 0.1, until it has heard a frame over 0.5:
    from then on it hears nothing, until reset."""

    def __init__(self) -> None:
        self.deaf = False
        self.resets = 0

    def probabilities(self, frames: FloatArray) -> FloatArray:
        heard = []
        for level in np.abs(frames.reshape(-1, FRAME_SAMPLES)).max(axis=1):
            heard.append(0.0 if self.deaf else float(level > 0.1))
            self.deaf = self.deaf or level > 0.5
        return np.asarray(heard, np.float32)

    def reset(self) -> None:
        self.deaf = False
        self.resets += 1

    def close(self) -> None:
        pass


def frames(*levels: tuple[float, float]) -> FloatArray:
    """Constant-level audio: (level, seconds) pieces, each a whole number of frames."""
    return np.concatenate([np.full(round(seconds / FRAME_SECONDS) * FRAME_SAMPLES, level, np.float32)
                           for level, seconds in levels])


def test_speech_after_loudness_is_found_when_the_quiet_stretch_is_heard_again() -> None:
    audio = frames((0.8, FRAME_SECONDS), (0.0, 2.0), (0.3, 2.0), (0.0, 2.0))
    vad = DeafAfterLoudness()
    probabilities = speech_probabilities(audio, vad)
    assert probabilities.sum() == 1  # the loud frame; deaf from then on
    relisten(audio, probabilities, vad)
    speech = np.flatnonzero(probabilities)
    assert vad.resets == 1
    assert speech[0] == 0 and np.array_equal(speech[1:], np.arange(63, 125))  # the 0.3 stretch


def test_only_stretches_a_rule_set_could_cut_are_heard_again() -> None:
    shortest = round(shortest_cut(DIARIZE_RULES) / FRAME_SECONDS)
    probabilities = np.r_[np.ones(5), np.zeros(shortest - 1), np.ones(5), np.zeros(shortest), np.full(3, 0.4)]
    assert quiet_stretches(probabilities.astype(np.float32)) == [(shortest + 9, 2 * shortest + 12)]


def test_a_frame_keeps_the_higher_of_its_two_hearings() -> None:
    audio = frames((0.0, 3.0))
    probabilities = np.full(len(audio) // FRAME_SAMPLES, 0.4, np.float32)
    relisten(audio, probabilities, DeafAfterLoudness())
    assert np.all(probabilities == np.float32(0.4))
