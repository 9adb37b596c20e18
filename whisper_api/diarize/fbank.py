"""The speaker encoder's input: Kaldi-style log-mel filterbank energies, 80 bands, 25 ms every 10 ms.

The features CAM++ was trained on (Kaldi's ``fbank`` with its defaults and no dither): frame ``i``
covers samples ``[160 i, 160 i + 400)`` (only whole frames), each frame loses its mean (DC), gets
a 0.97 pre-emphasis and the Povey window, then a 512-point power spectrum goes through 80
triangular filters spaced on Kaldi's mel scale from 20 Hz to 8 kHz, and the natural log is taken.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from whisper_api.audio import FloatArray

SAMPLE_RATE = 16000
FRAME = 400
HOP = 160
FFT_SIZE = 512
BANDS = 80
LOW_HZ = 20.0
PREEMPHASIS = 0.97
FRAMES_PER_SECOND = SAMPLE_RATE / HOP
BLOCK_FRAMES = 3000
"""30 s of frames per FFT block, so the temporaries stay small however long the audio."""
FLOOR = float(np.finfo(np.float32).eps)


def kaldi_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0), np.float64)


@cache
def mel_bank() -> FloatArray:
    """(FFT_SIZE // 2 + 1, BANDS) filter weights; the Nyquist bin is left out, as Kaldi does."""
    low, high = kaldi_mel(np.array(LOW_HZ)), kaldi_mel(np.array(SAMPLE_RATE / 2))
    step = (high - low) / (BANDS + 1)
    left = low + step * np.arange(BANDS)
    centre, right = left + step, left + 2 * step
    bins = kaldi_mel(np.arange(FFT_SIZE // 2) * SAMPLE_RATE / FFT_SIZE)[:, None]
    rising, falling = (bins - left) / (centre - left), (right - bins) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([weights, np.zeros((1, BANDS))]).astype(np.float32)


@cache
def povey_window() -> FloatArray:
    return np.asarray((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / (FRAME - 1))) ** 0.85, np.float32)


def frame_count(samples: int) -> int:
    return 0 if samples < FRAME else 1 + (samples - FRAME) // HOP


def log_fbank(samples: FloatArray) -> FloatArray:
    """(frames, BANDS) log filterbank energies of ``samples`` (16 kHz, in [-1, 1])."""
    count = frame_count(len(samples))
    features = np.empty((count, BANDS), np.float32)
    if count == 0:
        return features
    frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32), FRAME)[::HOP][:count]
    for first in range(0, count, BLOCK_FRAMES):
        block = frames[first:first + BLOCK_FRAMES]
        block = block - block.mean(axis=1, keepdims=True)
        emphasised = block - PREEMPHASIS * np.concatenate([block[:, :1], block[:, :-1]], axis=1)
        power = np.abs(np.fft.rfft(emphasised * povey_window(), FFT_SIZE, axis=1)) ** 2
        features[first:first + BLOCK_FRAMES] = np.log(np.maximum(power.astype(np.float32) @ mel_bank(), FLOOR))
    return features
