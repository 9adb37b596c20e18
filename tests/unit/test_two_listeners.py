"""Silero listens twice: a second listener starts afresh where the first falls quiet (pure logic: a
detector with a memory stands in for Silero, which tests/test_vad.py checks on real meetings)."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_api.audio import FloatArray
from whisper_api.vad import FRAME_SAMPLES
from whisper_api.vad.detector import EnergyVad, TwoListeners, open_vad, speech_probabilities


class DeafAfterLoudness:
    """Hears a frame as speech (1) when its level is over 0.1, until it has heard a frame over 0.5:
    from then on it hears nothing, until reset."""

    def __init__(self) -> None:
        self.deaf = False

    def probabilities(self, frames: FloatArray) -> FloatArray:
        heard = []
        for level in np.abs(frames.reshape(-1, FRAME_SAMPLES)).max(axis=1):
            heard.append(0.0 if self.deaf else float(level > 0.1))
            self.deaf = self.deaf or level > 0.5
        return np.asarray(heard, np.float32)

    def reset(self) -> None:
        self.deaf = False

    def close(self) -> None:
        pass


def frames(*levels: tuple[float, int]) -> FloatArray:
    """Constant-level audio: (level, frames) pieces."""
    return np.concatenate([np.full(count * FRAME_SAMPLES, level, np.float32) for level, count in levels])


def listeners() -> TwoListeners:
    return TwoListeners(DeafAfterLoudness(), DeafAfterLoudness())


def test_speech_the_first_listener_is_deaf_to_is_heard_by_the_second() -> None:
    audio = frames((0.3, 5), (0.8, 1), (0.0, 20), (0.3, 30), (0.0, 10))
    alone = speech_probabilities(audio, DeafAfterLoudness())
    assert np.flatnonzero(alone).tolist() == list(range(6))  # deaf after the loud frame
    twice = speech_probabilities(audio, listeners())
    assert np.flatnonzero(twice).tolist() == [*range(6), *range(26, 56)]


def test_a_loud_frame_in_a_quiet_stretch_deafens_the_second_listener_until_the_next_stretch() -> None:
    audio = frames((0.3, 2), (0.8, 1), (0.0, 3), (0.9, 1), (0.3, 4))
    # the first listener goes deaf at frame 2; the second starts at frame 3, goes deaf at frame 6
    assert np.flatnonzero(speech_probabilities(audio, listeners())).tolist() == [0, 1, 2, 6]


@pytest.mark.parametrize("piece", [1, 3, 7, 64])
def test_fed_in_pieces_it_hears_what_it_hears_fed_whole(piece: int) -> None:
    audio = frames((0.3, 5), (0.8, 1), (0.0, 20), (0.3, 30), (0.9, 1), (0.0, 9), (0.2, 12))
    whole = listeners().probabilities(audio)
    stream = listeners()
    step = piece * FRAME_SAMPLES
    pieces = np.concatenate([stream.probabilities(audio[start:start + step]) for start in range(0, len(audio), step)])
    np.testing.assert_array_equal(pieces, whole)


def test_reset_forgets_both_listeners() -> None:
    pair = listeners()
    pair.probabilities(frames((0.8, 1), (0.3, 3)))
    pair.reset()
    assert pair.probabilities(frames((0.3, 2))).tolist() == [1.0, 1.0]


def test_without_a_model_the_energy_detector_listens_once() -> None:
    assert isinstance(open_vad(None), EnergyVad)
