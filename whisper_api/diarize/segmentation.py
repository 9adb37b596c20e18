"""Who is talking in each 17 ms frame of a 10 s window, overlaps included: pyannote's segmentation-3.0
(MIT) in numpy.

The network: the waveform, normalised, goes through 80 parametric band-pass (sinc) filters of
251 taps every 10 samples, their magnitudes through three rounds of max-pooling, instance norm and
leaky ReLU (with two 5-tap convolutions of 60 channels between them), then a 4-layer bidirectional
LSTM (128 per direction), two linear layers and a classifier over 7 classes: nobody, one of three
speakers local to the window, or one of the three pairs of them. A frame where one of the pairs
wins is overlapped speech. Frames are 270 samples apart (16.875 ms), 589 per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from whisper_api.audio import SAMPLE_RATE, FloatArray
from whisper_api.diarize.arrays import in_batches, load_weights

WINDOW_SAMPLES = 10 * SAMPLE_RATE
FRAME_STEP = 270
FRAME_SECONDS = FRAME_STEP / SAMPLE_RATE
FRAME_SPAN = 991
"""Samples one frame sees: frame ``i`` covers ``[270 i, 270 i + 991)``."""
FRAMES = 589
CLASSES = 7
"""Nobody; local speaker 0, 1 or 2; the pairs {0, 1}, {0, 2}, {1, 2} (two at once)."""
SINC_TAPS = 251
SINC_STRIDE = 10
MIN_HZ = 50.0
EPSILON = 1e-5
SLOPE = 0.01
BATCH_WINDOWS = 8
"""Windows per batch: the LSTM steps through time once per batch, so larger batches cost less per window."""

Weights = dict[str, FloatArray]


def sinc_filters(weights: Weights) -> FloatArray:
    """(80, 251) band-pass filters: 40 even (cosine) ones, then 40 odd (sine) ones, each a band
    between its learned low cut-off and low + width."""
    low = MIN_HZ + np.abs(weights["sincnet.conv1d.0.filterbank.low_hz_"].astype(np.float64))
    high = np.clip(low + MIN_HZ + np.abs(weights["sincnet.conv1d.0.filterbank.band_hz_"]), MIN_HZ, SAMPLE_RATE / 2)
    band = high - low
    half = SINC_TAPS // 2
    times = 2 * np.pi * np.arange(-half, 0) / SAMPLE_RATE  # the left half, negative times
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(half) / (SINC_TAPS - 1))
    even = (np.sin(high * times) - np.sin(low * times)) / (times / 2) * window
    odd = (np.cos(low * times) - np.cos(high * times)) / (times / 2) * window
    even_filters = np.hstack([even, 2 * band, even[:, ::-1]])
    odd_filters = np.hstack([odd, np.zeros_like(band), -odd[:, ::-1]])
    return np.asarray(np.vstack([even_filters / (2 * band), odd_filters / (2 * band)]), np.float32)


def _instance_norm(values: FloatArray, weight: FloatArray, bias: FloatArray) -> FloatArray:
    """Per window and channel over time; ``values`` (windows, channels, time)."""
    mean = values.mean(axis=2, keepdims=True)
    variance = values.var(axis=2, keepdims=True)
    return np.asarray((values - mean) / np.sqrt(variance + EPSILON) * weight[:, None] + bias[:, None], np.float32)


def _leaky_relu(values: FloatArray) -> FloatArray:
    return np.where(values > 0, values, SLOPE * values)


def _max_pool(values: FloatArray) -> FloatArray:
    """Each run of 3 frames to its largest (a left-over frame or two dropped), as the largest of
    three strided views: numpy reduces over a short last axis slowly."""
    usable = values.shape[2] // 3 * 3
    return np.maximum(np.maximum(values[:, :, 0:usable:3], values[:, :, 1:usable:3]), values[:, :, 2:usable:3])


def _conv(values: FloatArray, kernel: FloatArray, bias: FloatArray) -> FloatArray:
    """Valid 1-D convolution of (windows, channels, time) with a (out, channels, taps) kernel."""
    windows, channels, frames = values.shape
    out, _, taps = kernel.shape
    steps = frames - taps + 1
    columns = np.lib.stride_tricks.sliding_window_view(values, taps, axis=2)  # (windows, channels, steps, taps)
    flat = columns.transpose(0, 2, 1, 3).reshape(windows * steps, channels * taps)
    result = flat @ kernel.reshape(out, -1).T + bias
    return np.ascontiguousarray(result.reshape(windows, steps, out).transpose(0, 2, 1))


@dataclass(frozen=True)
class _Direction:
    input_weights: FloatArray  # (inputs, 512), gates in the order input, forget, output, cell
    hidden_weights: FloatArray  # (128, 512)
    bias: FloatArray

    @classmethod
    def of(cls, weights: Weights, suffix: str) -> _Direction:
        """PyTorch's gates (input, forget, cell, output) reordered so the three sigmoid gates are one slice."""
        size = weights[f"lstm.weight_hh_{suffix}"].shape[1]
        order = np.r_[0:2 * size, 3 * size:4 * size, 2 * size:3 * size]
        return cls(weights[f"lstm.weight_ih_{suffix}"][order].T.copy(),
                   weights[f"lstm.weight_hh_{suffix}"][order].T.copy(),
                   (weights[f"lstm.bias_ih_{suffix}"] + weights[f"lstm.bias_hh_{suffix}"])[order])

    def run(self, inputs: FloatArray, reverse: bool) -> FloatArray:
        """(windows, time, inputs) -> (windows, time, 128) hidden states, from a zero state."""
        windows, frames, _ = inputs.shape
        size = self.hidden_weights.shape[0]
        projected = inputs @ self.input_weights + self.bias
        hidden, cell = np.zeros((windows, size), np.float32), np.zeros((windows, size), np.float32)
        outputs = np.empty((windows, frames, size), np.float32)
        for step in range(frames - 1, -1, -1) if reverse else range(frames):
            gates = projected[:, step] + hidden @ self.hidden_weights
            opened = expit(gates[:, :3 * size])  # input, forget, output
            candidate = np.tanh(gates[:, 3 * size:])
            cell = np.asarray(opened[:, size:2 * size] * cell + opened[:, :size] * candidate, np.float32)
            hidden = np.asarray(opened[:, 2 * size:] * np.tanh(cell), np.float32)
            outputs[:, step] = hidden
        return outputs


class SegmentationModel:
    def __init__(self, weights: Weights) -> None:
        self.weights = weights
        self.filters = sinc_filters(weights)
        self.layers = [(_Direction.of(weights, f"l{layer}"), _Direction.of(weights, f"l{layer}_reverse"))
                       for layer in range(4)]

    @classmethod
    def load(cls, path: Path) -> SegmentationModel:
        return cls(load_weights(path))

    def classes(self, windows: FloatArray) -> FloatArray:
        """(windows, 160000) samples -> (windows, FRAMES, CLASSES) class log-probabilities."""
        return in_batches(self._classes, windows, BATCH_WINDOWS, (FRAMES, CLASSES))

    def _classes(self, windows: FloatArray) -> FloatArray:
        frames = self._front(windows).transpose(0, 2, 1)  # (windows, 589, 60)
        for forward, backward in self.layers:
            frames = np.concatenate([forward.run(frames, False), backward.run(frames, True)], axis=2)
        w = self.weights
        frames = _leaky_relu(frames @ w["linear.0.weight"].T + w["linear.0.bias"])
        frames = _leaky_relu(frames @ w["linear.1.weight"].T + w["linear.1.bias"])
        scores = frames @ w["classifier.weight"].T + w["classifier.bias"]
        peak = scores.max(axis=2, keepdims=True)
        return np.asarray(scores - peak - np.log(np.exp(scores - peak).sum(axis=2, keepdims=True)), np.float32)

    def _front(self, windows: FloatArray) -> FloatArray:
        w = self.weights
        wave = _instance_norm(windows[:, None, :], w["sincnet.wav_norm1d.weight"], w["sincnet.wav_norm1d.bias"])
        values = np.abs(self._sinc(wave[:, 0]))
        for layer in (0, 1, 2):
            if layer:
                values = _conv(values, w[f"sincnet.conv1d.{layer}.weight"], w[f"sincnet.conv1d.{layer}.bias"])
            values = _instance_norm(_max_pool(values), w[f"sincnet.norm1d.{layer}.weight"],
                                    w[f"sincnet.norm1d.{layer}.bias"])
            values = _leaky_relu(values)
        return values

    def _sinc(self, waves: FloatArray) -> FloatArray:
        """(windows, samples) -> (windows, 80, steps): the filters every SINC_STRIDE samples, as one
        matrix product per window over rows of SINC_STRIDE samples (the filters padded to whole rows)."""
        rows_per_filter = -(-SINC_TAPS // SINC_STRIDE)
        padded_filters = np.zeros((len(self.filters), rows_per_filter * SINC_STRIDE), np.float32)
        padded_filters[:, :SINC_TAPS] = self.filters
        steps = (waves.shape[1] - SINC_TAPS) // SINC_STRIDE + 1
        out = np.empty((len(waves), len(self.filters), steps), np.float32)
        for index, wave in enumerate(waves):
            padded = np.pad(wave, (0, rows_per_filter * SINC_STRIDE))
            rows = padded[:(steps + rows_per_filter) * SINC_STRIDE].reshape(-1, SINC_STRIDE)
            columns = np.lib.stride_tricks.sliding_window_view(rows, rows_per_filter, axis=0)[:steps]
            out[index] = padded_filters @ columns.transpose(0, 2, 1).reshape(steps, -1).T
        return out
