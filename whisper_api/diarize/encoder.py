"""A speaker encoder in numpy: 3-layer LSTM over mel frames, then a linear layer, ReLU and L2 norm.

The weights are resemblyzer's voice encoder (a GE2E model), converted once from its PyTorch
checkpoint into ``speaker-encoder.npz`` (see ``whisper_api.models.speaker_encoder``). Every
window starts from a zero LSTM state, so windows are independent and run as one batch: per time
step, one matrix product per layer for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisper_api.audio import FloatArray

LAYERS = 3
HIDDEN = 256
EMBEDDING_SIZE = 256
WINDOW_FRAMES = 160
"""1.6 s of mel frames: the window length the encoder was trained on."""
BATCH_WINDOWS = 128
"""Windows per batch: large enough for efficient matrix products, small enough to keep memory flat."""


@dataclass(frozen=True)
class _Layer:
    input_weights: FloatArray  # (inputs, 4 * HIDDEN), gates in PyTorch's order: input, forget, cell, output
    hidden_weights: FloatArray  # (HIDDEN, 4 * HIDDEN)
    bias: FloatArray  # (4 * HIDDEN,)


def _sigmoid(values: FloatArray) -> FloatArray:
    result: FloatArray = 0.5 + 0.5 * np.tanh(0.5 * values)  # no overflow warnings, unlike 1 / (1 + exp(-x))
    return result


class SpeakerEncoder:
    """Maps (windows, WINDOW_FRAMES, 40) mel windows to unit-length 256-d speaker embeddings."""

    def __init__(self, weights: dict[str, FloatArray]) -> None:
        self.layers = [
            _Layer(
                np.ascontiguousarray(weights[f"lstm.weight_ih_l{index}"].T, np.float32),
                np.ascontiguousarray(weights[f"lstm.weight_hh_l{index}"].T, np.float32),
                (weights[f"lstm.bias_ih_l{index}"] + weights[f"lstm.bias_hh_l{index}"]).astype(np.float32),
            )
            for index in range(LAYERS)
        ]
        self.projection = np.ascontiguousarray(weights["linear.weight"].T, np.float32)
        self.projection_bias = weights["linear.bias"].astype(np.float32)

    @classmethod
    def load(cls, path: Path) -> SpeakerEncoder:
        with np.load(path) as archive:
            return cls({name: archive[name] for name in archive.files})

    def embed(self, windows: FloatArray) -> FloatArray:
        """(windows, 256) embeddings, computed in batches of BATCH_WINDOWS."""
        if len(windows) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return np.concatenate([self._embed_batch(windows[start:start + BATCH_WINDOWS])
                               for start in range(0, len(windows), BATCH_WINDOWS)])

    def _embed_batch(self, windows: FloatArray) -> FloatArray:
        sequence = np.ascontiguousarray(windows.transpose(1, 0, 2), np.float32)  # (time, batch, features)
        for layer in self.layers:
            sequence = self._run_layer(layer, sequence)
        projected = np.maximum(sequence[-1] @ self.projection + self.projection_bias, 0)
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        embeddings: FloatArray = (projected / np.maximum(norms, 1e-8)).astype(np.float32)
        return embeddings

    @staticmethod
    def _run_layer(layer: _Layer, inputs: FloatArray) -> FloatArray:
        steps, batch, _ = inputs.shape
        flat = inputs.reshape(steps * batch, -1)
        gates_from_input = (flat @ layer.input_weights + layer.bias).reshape(steps, batch, -1)
        hidden = np.zeros((batch, HIDDEN), np.float32)
        cell = np.zeros((batch, HIDDEN), np.float32)
        outputs = np.empty((steps, batch, HIDDEN), np.float32)
        for step in range(steps):
            gates = gates_from_input[step] + hidden @ layer.hidden_weights
            input_gate = _sigmoid(gates[:, :HIDDEN])
            forget_gate = _sigmoid(gates[:, HIDDEN:2 * HIDDEN])
            candidate = np.tanh(gates[:, 2 * HIDDEN:3 * HIDDEN])
            output_gate = _sigmoid(gates[:, 3 * HIDDEN:])
            cell = forget_gate * cell + input_gate * candidate
            hidden = output_gate * np.tanh(cell)
            outputs[step] = hidden
        return outputs
