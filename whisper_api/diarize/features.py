"""The speaker encoder's input: 40-band mel power spectra, 25 ms windows every 10 ms at 16 kHz.

Slaney's mel scale and area-normalised triangular filters (the librosa defaults the encoder was
trained with), on a centred STFT with a periodic Hann window and reflected edges.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from whisper_api.audio import FloatArray

SAMPLE_RATE = 16000
FFT_SIZE = 400
HOP = 160
MEL_BANDS = 40
FFT_BLOCK_FRAMES = 3000
"""30 s of frames per FFT block."""
FRAMES_PER_SECOND = SAMPLE_RATE / HOP
LINEAR_MEL_STEP_HZ = 200 / 3
"""Below 1 kHz the Slaney scale is linear: one mel per 66.7 Hz."""
LOG_MEL_START_HZ = 1000.0
LOG_MEL_STEP = np.log(6.4) / 27


def hz_to_mel(hz: FloatArray) -> FloatArray:
    linear = hz / LINEAR_MEL_STEP_HZ
    start = LOG_MEL_START_HZ / LINEAR_MEL_STEP_HZ
    logarithmic = start + np.log(np.maximum(hz, 1e-10) / LOG_MEL_START_HZ) / LOG_MEL_STEP
    return np.where(hz >= LOG_MEL_START_HZ, logarithmic, linear)


def mel_to_hz(mel: FloatArray) -> FloatArray:
    start = LOG_MEL_START_HZ / LINEAR_MEL_STEP_HZ
    return np.where(mel >= start, LOG_MEL_START_HZ * np.exp(LOG_MEL_STEP * (mel - start)), mel * LINEAR_MEL_STEP_HZ)


@cache
def mel_filters() -> FloatArray:
    """(MEL_BANDS, FFT_SIZE // 2 + 1) triangular filters, each with unit area in Hz."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, FFT_SIZE // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2.0)), MEL_BANDS + 2))
    widths = np.diff(edges_hz)
    distances = edges_hz[:, None] - fft_hz[None, :]
    rising = -distances[:-2] / widths[:-1, None]
    falling = distances[2:] / widths[1:, None]
    filters = np.maximum(0, np.minimum(rising, falling))
    filters *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return filters.astype(np.float32)


@cache
def _window() -> FloatArray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(np.float32)


def mel_spectrogram(samples: FloatArray) -> FloatArray:
    """(frames, MEL_BANDS) power mel spectrum; frame ``i`` is centred on sample ``i * HOP``.

    Frames go through the FFT in blocks read straight from ``samples`` (reflected at the ends), so
    the temporaries stay small however long the audio: no padded copy of the whole recording, no
    hour of complex spectra at once."""
    count = 1 + len(samples) // HOP
    mel = np.empty((count, MEL_BANDS), np.float32)
    for first in range(0, count, FFT_BLOCK_FRAMES):
        frames = min(FFT_BLOCK_FRAMES, count - first)
        span = _padded_span(samples, first * HOP - FFT_SIZE // 2, (first + frames - 1) * HOP + FFT_SIZE // 2)
        block = np.lib.stride_tricks.sliding_window_view(span, FFT_SIZE)[::HOP][:frames] * _window()
        power = np.abs(np.fft.rfft(block, axis=1)) ** 2
        mel[first:first + frames] = power.astype(np.float32) @ mel_filters().T
    return mel


def _padded_span(samples: FloatArray, start: int, stop: int) -> FloatArray:
    """``samples[start:stop]`` where the range may reach past either end: reflected there, as
    ``np.pad(mode="reflect")`` does, or silence when the audio is too short to reflect."""
    before, after = max(0, -start), max(0, stop - len(samples))
    inner = samples[max(start, 0):min(stop, len(samples))].astype(np.float32)
    if len(samples) <= max(before, after):
        return np.pad(inner, (before, after))
    left = samples[1:before + 1][::-1]
    right = samples[len(samples) - after - 1:len(samples) - 1][::-1]
    return np.concatenate([left, inner, right]).astype(np.float32)
