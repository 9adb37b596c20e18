"""Sample-rate conversion to 16 kHz for audio that arrives in pieces.

Linear interpolation between input samples, after a windowed-sinc low-pass when the input
rate is higher (so 48 kHz speech does not alias into the band whisper hears). Both carry their
state across chunks: any chunking of the input gives the same output.
"""

from __future__ import annotations

import math

import numpy as np

from whisper_api.audio import SAMPLE_RATE, FloatArray

LOWPASS_TAPS = 63
LOWPASS_EDGE_HZ = 7600.0


def _lowpass(rate: int) -> FloatArray:
    cutoff = LOWPASS_EDGE_HZ / rate  # in cycles per input sample
    offsets = np.arange(LOWPASS_TAPS) - (LOWPASS_TAPS - 1) / 2
    taps: FloatArray = (2 * cutoff * np.sinc(2 * cutoff * offsets) * np.hamming(LOWPASS_TAPS)).astype(np.float32)
    taps /= taps.sum()
    return taps


class Resampler:
    """Turns (frames, channels) chunks at ``rate`` into chunks at 16 kHz."""

    def __init__(self, rate: int, channels: int) -> None:
        self.step = rate / SAMPLE_RATE
        """Input samples per output sample."""
        self.taps = _lowpass(rate) if rate > SAMPLE_RATE else None
        self.filter_memory = np.zeros((LOWPASS_TAPS - 1 if self.taps is not None else 0, channels), np.float32)
        self.pending = np.zeros((0, channels), np.float32)
        """Input kept for the next chunk: interpolation needs the sample after each position."""
        self.position = 0.0
        """Where the next output sample falls, in input samples from ``pending[0]``."""

    def __call__(self, chunk: FloatArray) -> FloatArray:
        if self.step == 1.0 or chunk.shape[0] == 0:
            return chunk
        if self.taps is not None:
            chunk = self._filter(chunk)
        signal = np.concatenate([self.pending, chunk])
        last = signal.shape[0] - 1
        count = math.floor((last - self.position) / self.step) + 1 if last >= self.position else 0
        positions = self.position + np.arange(count) * self.step
        below = np.floor(positions).astype(np.int64)
        weight = (positions - below).astype(np.float32)[:, None]
        out = signal[below] * (1 - weight) + signal[np.minimum(below + 1, last)] * weight
        following = self.position + count * self.step
        drop = min(math.floor(following), signal.shape[0])
        self.pending, self.position = signal[drop:], following - drop
        resampled: FloatArray = out.astype(np.float32)
        return resampled

    def _filter(self, chunk: FloatArray) -> FloatArray:
        assert self.taps is not None
        padded = np.concatenate([self.filter_memory, chunk])
        self.filter_memory = padded[padded.shape[0] - (LOWPASS_TAPS - 1):]
        columns = [np.convolve(padded[:, column], self.taps, mode="valid") for column in range(padded.shape[1])]
        return np.stack(columns, axis=1).astype(np.float32)
