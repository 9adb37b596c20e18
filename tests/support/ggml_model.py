"""Write whisper.cpp GGML model files with random weights, for tests.

The file layout is whisper.cpp's (little-endian): magic, 11 int32 hyper-parameters,
mel filters, vocabulary, then tensors. The vocabulary is synthetic: syllables with and
without a leading space plus punctuation, so decoded noise still exercises word merging.
whisper.cpp accepts any dimensions the header declares, so a micro model (one layer,
64 wide) loads in milliseconds and runs the real encoder and decoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

GGML_MAGIC = 0x67676D6C
# Text tokens come first; whisper.cpp names the special tokens after them itself.
# A vocabulary of 51865 or more makes a multilingual model, whose end-of-text token is 50257.
N_TEXT_TOKENS = {True: 50257, False: 50256}
N_VOCAB = {True: 51865, False: 51864}
N_MELS = 80
N_FFT_BINS = 201
SAMPLE_RATE = 16000

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
PUNCTUATION = [".", ",", "?", "!", "'s", "-"]


@dataclass(frozen=True)
class ModelDims:
    audio_state: int
    audio_heads: int
    audio_layers: int
    text_state: int
    text_heads: int
    text_layers: int
    audio_ctx: int = 1500
    text_ctx: int = 448


MICRO = ModelDims(64, 1, 1, 64, 1, 1)


def synthetic_token(index: int) -> bytes:
    """A deterministic BPE-like token: every single byte first (so any prompt tokenizes, and
    whisper.cpp finds the " " token it suppresses), then punctuation, word starts (leading
    space) and word pieces."""
    if index < 256:
        return bytes([index])
    if index % 97 == 0:
        return PUNCTUATION[(index // 97) % len(PUNCTUATION)].encode()
    syllable = CONSONANTS[index % len(CONSONANTS)] + VOWELS[(index // len(CONSONANTS)) % len(VOWELS)]
    if (index // 70) % 3 == 0:
        syllable += CONSONANTS[(index // 7) % len(CONSONANTS)]
    return (" " + syllable if index % 2 == 0 else syllable).encode()


def mel_filterbank(n_mels: int = N_MELS, n_bins: int = N_FFT_BINS) -> np.ndarray:
    """Slaney-style triangular mel filters over the 0..8 kHz FFT bins, area-normalised."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    bin_hz = np.linspace(0.0, SAMPLE_RATE / 2, n_bins)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (upper - lower))
    return filters.astype(np.float32)


class _TensorWriter:
    def __init__(self, out: BinaryIO, rng: np.random.Generator) -> None:
        self.out = out
        self.rng = rng

    def write(self, name: str, shape: list[int], kind: str) -> None:
        count = int(np.prod(shape))
        noise = self.rng.standard_normal(count, dtype=np.float32) * 0.02 if kind in ("weight", "f32") else None
        if kind == "weight":
            data: np.ndarray = noise.astype(np.float16)  # type: ignore[union-attr]
        elif kind == "f32":
            data = noise  # type: ignore[assignment]
        else:
            data = np.ones(count, np.float32) if kind == "ones" else np.zeros(count, np.float32)
        type_id = 1 if kind == "weight" else 0
        encoded = name.encode()
        self.out.write(struct.pack("<3i", len(shape), len(encoded), type_id))
        self.out.write(struct.pack(f"<{len(shape)}i", *shape))
        self.out.write(encoded)
        self.out.write(data.tobytes())

    def block(self, prefix: str, width: int, cross: bool) -> None:
        for attn in ("attn", "cross_attn") if cross else ("attn",):
            self.write(f"{prefix}.{attn}_ln.weight", [width], "ones")
            self.write(f"{prefix}.{attn}_ln.bias", [width], "zeros")
            for proj in ("query", "key", "value", "out"):
                self.write(f"{prefix}.{attn}.{proj}.weight", [width, width], "weight")
                if proj != "key":
                    self.write(f"{prefix}.{attn}.{proj}.bias", [width], "zeros")
        self.write(f"{prefix}.mlp_ln.weight", [width], "ones")
        self.write(f"{prefix}.mlp_ln.bias", [width], "zeros")
        self.write(f"{prefix}.mlp.0.weight", [width, 4 * width], "weight")
        self.write(f"{prefix}.mlp.0.bias", [4 * width], "zeros")
        self.write(f"{prefix}.mlp.2.weight", [4 * width, width], "weight")
        self.write(f"{prefix}.mlp.2.bias", [width], "zeros")


def write_random_model(path: Path, dims: ModelDims = MICRO, seed: int = 0, multilingual: bool = True) -> Path:
    """Write a whisper GGML model with N(0, 0.02) f16 weights to `path`."""
    rng = np.random.default_rng(seed)
    n_vocab = N_VOCAB[multilingual]
    hparams = [
        n_vocab, dims.audio_ctx, dims.audio_state, dims.audio_heads, dims.audio_layers,
        dims.text_ctx, dims.text_state, dims.text_heads, dims.text_layers, N_MELS, 1,
    ]
    with path.open("wb") as out:
        out.write(struct.pack("<12i", GGML_MAGIC, *hparams))
        out.write(struct.pack("<2i", N_MELS, N_FFT_BINS))
        out.write(mel_filterbank().tobytes())
        out.write(struct.pack("<i", N_TEXT_TOKENS[multilingual]))
        for index in range(N_TEXT_TOKENS[multilingual]):
            token = synthetic_token(index)
            out.write(struct.pack("<I", len(token)) + token)
        tensors = _TensorWriter(out, rng)
        a, t = dims.audio_state, dims.text_state
        tensors.write("encoder.positional_embedding", [a, dims.audio_ctx], "f32")
        tensors.write("encoder.conv1.weight", [3, N_MELS, a], "weight")
        tensors.write("encoder.conv1.bias", [1, a], "zeros")
        tensors.write("encoder.conv2.weight", [3, a, a], "weight")
        tensors.write("encoder.conv2.bias", [1, a], "zeros")
        for layer in range(dims.audio_layers):
            tensors.block(f"encoder.blocks.{layer}", a, cross=False)
        tensors.write("encoder.ln_post.weight", [a], "ones")
        tensors.write("encoder.ln_post.bias", [a], "zeros")
        tensors.write("decoder.positional_embedding", [t, dims.text_ctx], "f32")
        tensors.write("decoder.token_embedding.weight", [t, n_vocab], "weight")
        for layer in range(dims.text_layers):
            tensors.block(f"decoder.blocks.{layer}", t, cross=True)
        tensors.write("decoder.ln.weight", [t], "ones")
        tensors.write("decoder.ln.bias", [t], "zeros")
    return path
