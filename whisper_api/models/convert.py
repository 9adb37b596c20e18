"""Whisper checkpoints of other runtimes as whisper.cpp GGML files, with numpy alone.

Two layouts are read: a CTranslate2 directory (faster-whisper's ``model.bin``, ``config.json``,
``vocabulary.txt``) and a Hugging Face transformers checkpoint (``config.json``,
``model.safetensors``, ``vocab.json`` or ``tokenizer.json``). Tensors are read one at a time from
their offsets in the file, renamed to whisper.cpp's names and written out, so memory holds about
one tensor however large the model. The vocabulary comes from the checkpoint's own files and the
mel filters are computed (Slaney's mel scale, as Whisper's feature extractor uses), so nothing is
taken from another model. Written as whisper.cpp's own converter writes them: f16 matrices, f32
vectors, norms, convolution biases and positional embeddings.

A whisper.cpp GGML file of f16 (or f32) tensors is read the same way (``read_ggml``), to be written
again with bf16 weight matrices (``write_ggml(..., bf16=True)``): on CPUs with AVX512_BF16, ggml's
matrix kernels multiply bf16 twice as fast as they widen f16, and the encoder is mostly that.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from whisper_api.digests import file_sha256
from whisper_api.errors import ChecksumMismatchError, ModelImportError
from whisper_api.models.ggml import FTYPE_F16, MAGIC
from whisper_api.models.packaged import replaced_when_done

Array = npt.NDArray[Any]
Tensor = tuple[str, Array]
"""A whisper.cpp tensor name and its data, in PyTorch's axis order."""
SAMPLE_RATE, N_FFT = 16000, 400
F32_NAMES = ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
             "decoder.positional_embedding")
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
"""ggml's tensor type numbers."""
BF16_BLOCK = 1 << 20
"""Weights rounded to bf16 at a time: bounds the f32 copies a large matrix (large-v3's vocabulary) makes
while the engine writes its bf16 copy at first load."""
FTYPE_BF16 = 24
"""The header's word for bf16 weight matrices (ggml's ``ggml_ftype``; f16's is ``ggml.FTYPE_F16``)."""


@dataclass(frozen=True)
class Hyper:
    """whisper.cpp's hyper-parameters, in the order its header stores them."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int


@dataclass(frozen=True)
class Checkpoint:
    hyper: Hyper
    tokens: list[bytes]
    """The text tokens (ids below end-of-text) as raw bytes; whisper.cpp adds the special ones itself."""
    tensors: Callable[[], Iterator[Tensor]]
    filters: npt.NDArray[np.float32] | None = None
    """The mel filters, when the source has them (a GGML file); else they are computed."""


# -- the vocabulary ------------------------------------------------------------------------------------

def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the printable character that stands for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


def token_bytes(tokens: list[str], end_of_text: int) -> list[bytes]:
    decoder = _byte_decoder()
    try:
        return [bytes(decoder[char] for char in token) for token in tokens[:end_of_text]]
    except KeyError as exc:
        raise ModelImportError(f"the vocabulary holds a character outside GPT-2's byte alphabet: {exc}") from None


# -- mel filters -----------------------------------------------------------------------------------------

def _hz_to_mel(hz: Array) -> Array:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    linear = hz / (200.0 / 3)
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), linear)


def _mel_to_hz(mel: Array) -> Array:
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(n_mels: int) -> npt.NDArray[np.float32]:
    """Area-normalised triangular filters over the 201 FFT bins of Whisper's 25 ms window at 16 kHz."""
    bins = np.linspace(0.0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), n_mels + 2))
    gaps = np.diff(edges)
    distances = edges[:, None] - bins[None, :]
    rising = -distances[:-2] / gaps[:-1, None]
    falling = distances[2:] / gaps[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.astype(np.float32)


# -- CTranslate2 (faster-whisper) ----------------------------------------------------------------------

BFLOAT16: np.dtype[Any] = np.dtype("<u2")
"""numpy has no bfloat16: its bits are read as uint16 and widened to float32."""
CT2_DTYPES: dict[int, np.dtype[Any]] = {0: np.dtype("<f4"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
                                        4: np.dtype("<f2"), 5: BFLOAT16}
CT2_INT8 = 1


@dataclass(frozen=True)
class _Variable:
    shape: tuple[int, ...]
    dtype: int
    offset: int
    size: int


class Ct2File:
    """The variables of a CTranslate2 ``model.bin``: an index of where each one lies, read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.variables: dict[str, _Variable] = {}
        try:
            with path.open("rb") as handle:
                self._read_index(handle)
        except (struct.error, UnicodeDecodeError) as exc:
            raise ModelImportError(f"{path} is truncated or damaged ({exc})") from None

    def _read_index(self, handle: BinaryIO) -> None:
        version = _unpack(handle, "<I")
        if version != 6 or _string(handle) != "WhisperSpec":
            raise ModelImportError(f"{self.path} is not a CTranslate2 Whisper model (binary version 6, WhisperSpec)")
        _unpack(handle, "<I")  # the spec revision
        for _ in range(_unpack(handle, "<I")):
            name, rank = _string(handle), _unpack(handle, "<B")
            shape = struct.unpack(f"<{rank}I", handle.read(4 * rank))
            dtype, size = _unpack(handle, "<B"), _unpack(handle, "<I")
            self.variables[name] = _Variable(shape, dtype, handle.tell(), size)
            handle.seek(size, 1)

    def __getitem__(self, name: str) -> Array:
        variable = self.variables.get(name)
        if variable is None:
            raise ModelImportError(f"{self.path} has no variable {name}")
        if variable.dtype == CT2_INT8:
            raise ModelImportError(f"{self.path} is quantized to int8: convert the float16 or float32 model instead")
        return read_array(self.path, variable.offset, variable.size, CT2_DTYPES[variable.dtype], variable.shape)

    def scalar(self, name: str) -> int:
        return int(self[name].reshape(-1)[0])


def _unpack(handle: BinaryIO, fmt: str) -> int:
    value: int = struct.unpack(fmt, handle.read(struct.calcsize(fmt)))[0]
    return value


def _string(handle: BinaryIO) -> str:
    return handle.read(_unpack(handle, "<H")).rstrip(b"\0").decode()


def read_array(path: Path, offset: int, size: int, dtype: np.dtype[Any], shape: tuple[int, ...]) -> Array:
    """``size`` bytes at ``offset`` of ``path`` as an array of ``shape``: one tensor in memory at a time."""
    with path.open("rb") as handle:
        handle.seek(offset)
        raw = handle.read(size)
    if len(raw) != size:
        raise ModelImportError(f"{path} is truncated: a tensor's data ends {size - len(raw)} bytes early")
    data: Array = np.frombuffer(raw, dtype)
    if dtype is BFLOAT16:
        data = (data.astype(np.uint32) << 16).view(np.float32)
    return data.reshape(shape)


def _ct2_layers(model: Ct2File, prefix: str) -> int:
    found = {int(match.group(1)) for name in model.variables if (match := re.match(rf"{prefix}/layer_(\d+)/", name))}
    return max(found) + 1 if found else 0


def read_ct2(folder: Path) -> Checkpoint:
    model = Ct2File(folder / "model.bin")
    vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    if "<|endoftext|>" not in vocabulary:
        raise ModelImportError(f"{folder / 'vocabulary.txt'} has no <|endoftext|> token")
    embeddings, encoder_positions = model.variables["decoder/embeddings/weight"], \
        model.variables["encoder/position_encodings/encodings"]
    hyper = Hyper(
        n_vocab=embeddings.shape[0], n_audio_ctx=encoder_positions.shape[0], n_audio_state=encoder_positions.shape[1],
        n_audio_head=model.scalar("encoder/num_heads"), n_audio_layer=_ct2_layers(model, "encoder"),
        n_text_ctx=model.variables["decoder/position_encodings/encodings"].shape[0], n_text_state=embeddings.shape[1],
        n_text_head=model.scalar("decoder/num_heads"), n_text_layer=_ct2_layers(model, "decoder"),
        n_mels=model.variables["encoder/conv1/weight"].shape[1])
    tokens = token_bytes(vocabulary, vocabulary.index("<|endoftext|>"))
    return Checkpoint(hyper, tokens, lambda: _ct2_tensors(model, hyper))


def _ct2_attention(model: Ct2File, source: str, target: str, cross: bool) -> Iterator[Tensor]:
    yield f"{target}_ln.weight", model[f"{source}/layer_norm/gamma"]
    yield f"{target}_ln.bias", model[f"{source}/layer_norm/beta"]
    if cross:  # query alone, then key and value fused
        yield f"{target}.query.weight", model[f"{source}/linear_0/weight"]
        yield f"{target}.query.bias", model[f"{source}/linear_0/bias"]
        key, value = np.split(model[f"{source}/linear_1/weight"], 2)
        yield f"{target}.key.weight", key
        yield f"{target}.value.weight", value
        yield f"{target}.value.bias", np.split(model[f"{source}/linear_1/bias"], 2)[1]
        out = f"{source}/linear_2"
    else:  # query, key and value fused; Whisper's key has no bias
        query, key, value = np.split(model[f"{source}/linear_0/weight"], 3)
        query_bias, _, value_bias = np.split(model[f"{source}/linear_0/bias"], 3)
        yield from ((f"{target}.query.weight", query), (f"{target}.query.bias", query_bias),
                    (f"{target}.key.weight", key), (f"{target}.value.weight", value),
                    (f"{target}.value.bias", value_bias))
        out = f"{source}/linear_1"
    yield f"{target}.out.weight", model[f"{out}/weight"]
    yield f"{target}.out.bias", model[f"{out}/bias"]


def _ct2_block(model: Ct2File, source: str, target: str, cross: bool) -> Iterator[Tensor]:
    yield from _ct2_attention(model, f"{source}/self_attention", f"{target}.attn", cross=False)
    if cross:
        yield from _ct2_attention(model, f"{source}/attention", f"{target}.cross_attn", cross=True)
    for ours, theirs in (("mlp_ln.weight", "ffn/layer_norm/gamma"), ("mlp_ln.bias", "ffn/layer_norm/beta"),
                         ("mlp.0.weight", "ffn/linear_0/weight"), ("mlp.0.bias", "ffn/linear_0/bias"),
                         ("mlp.2.weight", "ffn/linear_1/weight"), ("mlp.2.bias", "ffn/linear_1/bias")):
        yield f"{target}.{ours}", model[f"{source}/{theirs}"]


def _ct2_tensors(model: Ct2File, hyper: Hyper) -> Iterator[Tensor]:
    for conv in ("conv1", "conv2"):
        yield f"encoder.{conv}.weight", model[f"encoder/{conv}/weight"]
        yield f"encoder.{conv}.bias", model[f"encoder/{conv}/bias"]
    yield "encoder.positional_embedding", model["encoder/position_encodings/encodings"]
    for layer in range(hyper.n_audio_layer):
        yield from _ct2_block(model, f"encoder/layer_{layer}", f"encoder.blocks.{layer}", cross=False)
    yield "encoder.ln_post.weight", model["encoder/layer_norm/gamma"]
    yield "encoder.ln_post.bias", model["encoder/layer_norm/beta"]
    yield "decoder.token_embedding.weight", model["decoder/embeddings/weight"]
    yield "decoder.positional_embedding", model["decoder/position_encodings/encodings"]
    for layer in range(hyper.n_text_layer):
        yield from _ct2_block(model, f"decoder/layer_{layer}", f"decoder.blocks.{layer}", cross=True)
    yield "decoder.ln.weight", model["decoder/layer_norm/gamma"]
    yield "decoder.ln.bias", model["decoder/layer_norm/beta"]


# -- Hugging Face transformers ---------------------------------------------------------------------------

SAFETENSORS_DTYPES: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
                                                "F64": np.dtype("<f8"), "BF16": BFLOAT16}


class SafetensorsFile:
    """The tensors of a ``.safetensors`` file, read one at a time from their offsets. (The safetensors
    package's numpy loader cannot return bfloat16, which fine-tunes often use, so this reads the format:
    an 8-byte header length, a JSON index, then raw little-endian data.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as handle:
                length = _unpack(handle, "<Q")
                index = json.loads(handle.read(min(length, 100_000_000)))
        except (struct.error, ValueError) as exc:
            raise ModelImportError(f"{path} is not a safetensors file ({exc})") from None
        self.data_start = 8 + length
        self.index: dict[str, Any] = {name: entry for name, entry in index.items() if name != "__metadata__"}

    def __getitem__(self, name: str) -> Array:
        entry = self.index.get(name)
        if entry is None:
            raise ModelImportError(f"{self.path} has no tensor {name}")
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ModelImportError(f"{self.path}: tensor {name} has type {entry['dtype']}; F32, F16 or BF16 expected")
        start, end = entry["data_offsets"]
        return read_array(self.path, self.data_start + start, end - start, dtype, tuple(entry["shape"]))


def _hf_vocabulary(folder: Path) -> dict[str, int]:
    if (folder / "vocab.json").is_file():
        vocabulary: dict[str, int] = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return vocabulary
    if (folder / "tokenizer.json").is_file():
        model = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")).get("model", {})
        return dict(model.get("vocab", {}))
    raise ModelImportError(f"{folder} has neither vocab.json nor tokenizer.json")


def read_transformers(folder: Path) -> Checkpoint:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "whisper":
        raise ModelImportError(f"{folder / 'config.json'} is not a Whisper model "
                               f"(model_type {config.get('model_type')!r})")
    weights = SafetensorsFile(folder / "model.safetensors")
    prefix = "model." if "model.encoder.conv1.weight" in weights.index else ""
    hyper = Hyper(
        n_vocab=config["vocab_size"], n_audio_ctx=config["max_source_positions"], n_audio_state=config["d_model"],
        n_audio_head=config["encoder_attention_heads"], n_audio_layer=config["encoder_layers"],
        n_text_ctx=config["max_target_positions"], n_text_state=config["d_model"],
        n_text_head=config["decoder_attention_heads"], n_text_layer=config["decoder_layers"],
        n_mels=config["num_mel_bins"])
    by_id = {index: token for token, index in _hf_vocabulary(folder).items()}
    end_of_text = int(config["eos_token_id"])
    missing = [index for index in range(end_of_text) if index not in by_id]
    if missing:
        raise ModelImportError(f"{folder}: the vocabulary lacks token id {missing[0]}")
    tokens = token_bytes([by_id[index] for index in range(end_of_text)], end_of_text)
    return Checkpoint(hyper, tokens, lambda: _hf_tensors(weights, prefix, hyper))


HF_ATTENTION = (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"), ("out", "out_proj"))
HF_BLOCK = (("mlp_ln", "final_layer_norm"), ("mlp.0", "fc1"), ("mlp.2", "fc2"))


def _hf_block(weights: SafetensorsFile, source: str, target: str, cross: bool) -> Iterator[Tensor]:
    pairs = [("attn_ln", "self_attn_layer_norm"),
             *((f"attn.{ours}", f"self_attn.{theirs}") for ours, theirs in HF_ATTENTION)]
    if cross:
        pairs += [("cross_attn_ln", "encoder_attn_layer_norm"),
                  *((f"cross_attn.{ours}", f"encoder_attn.{theirs}") for ours, theirs in HF_ATTENTION)]
    for ours, theirs in [*pairs, *HF_BLOCK]:
        yield f"{target}.{ours}.weight", weights[f"{source}.{theirs}.weight"]
        if f"{source}.{theirs}.bias" in weights.index:  # Whisper's key projections have none
            yield f"{target}.{ours}.bias", weights[f"{source}.{theirs}.bias"]


def _hf_tensors(weights: SafetensorsFile, prefix: str, hyper: Hyper) -> Iterator[Tensor]:
    encoder, decoder = f"{prefix}encoder", f"{prefix}decoder"
    for conv in ("conv1", "conv2"):
        yield f"encoder.{conv}.weight", weights[f"{encoder}.{conv}.weight"]
        yield f"encoder.{conv}.bias", weights[f"{encoder}.{conv}.bias"]
    yield "encoder.positional_embedding", weights[f"{encoder}.embed_positions.weight"]
    for layer in range(hyper.n_audio_layer):
        yield from _hf_block(weights, f"{encoder}.layers.{layer}", f"encoder.blocks.{layer}", cross=False)
    yield "encoder.ln_post.weight", weights[f"{encoder}.layer_norm.weight"]
    yield "encoder.ln_post.bias", weights[f"{encoder}.layer_norm.bias"]
    yield "decoder.token_embedding.weight", weights[f"{decoder}.embed_tokens.weight"]
    yield "decoder.positional_embedding", weights[f"{decoder}.embed_positions.weight"]
    for layer in range(hyper.n_text_layer):
        yield from _hf_block(weights, f"{decoder}.layers.{layer}", f"decoder.blocks.{layer}", cross=True)
    yield "decoder.ln.weight", weights[f"{decoder}.layer_norm.weight"]
    yield "decoder.ln.bias", weights[f"{decoder}.layer_norm.bias"]


# -- reading and writing -------------------------------------------------------------------------------

def read_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint in ``folder``, whichever of the two layouts it has."""
    if (folder / "model.bin").is_file() and (folder / "vocabulary.txt").is_file():
        return read_ct2(folder)
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return read_transformers(folder)
    raise ModelImportError(
        f"{folder}: not a model this can import; expected a CTranslate2 (faster-whisper) folder with model.bin and "
        "vocabulary.txt, or a Hugging Face transformers Whisper folder with config.json and model.safetensors "
        "(a sharded or PyTorch .bin checkpoint: save it with safe_serialization=True first)")


def write_ggml(checkpoint: Checkpoint, destination: Path, bf16: bool = False) -> Path:
    """Write ``checkpoint`` as a whisper.cpp GGML file, one tensor at a time; with ``bf16`` the weight
    matrices are bfloat16 (the convolutions stay f16, as whisper.cpp expects)."""
    hyper = checkpoint.hyper
    with destination.open("wb") as out:
        out.write(struct.pack("<12i", MAGIC, *vars(hyper).values(), FTYPE_BF16 if bf16 else FTYPE_F16))
        filters = mel_filters(hyper.n_mels) if checkpoint.filters is None else checkpoint.filters
        out.write(struct.pack("<2i", *filters.shape) + filters.astype("<f4").tobytes())
        out.write(struct.pack("<i", len(checkpoint.tokens)))
        for token in checkpoint.tokens:
            out.write(struct.pack("<i", len(token)) + token)
        for name, data in checkpoint.tensors():
            _write_tensor(out, name, data, bf16)
    return destination


def _write_tensor(out: BinaryIO, name: str, data: Array, bf16: bool) -> None:
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        data = data.reshape(-1, 1)  # whisper.cpp adds them across time: [n_state, 1]
    half = data.ndim >= 2 and name not in F32_NAMES
    kind = GGML_BF16 if half and bf16 and data.ndim == 2 else GGML_F16 if half else GGML_F32
    encoded = name.encode()
    out.write(struct.pack("<3i", data.ndim, len(encoded), kind))
    out.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))  # ggml lists the fastest axis first
    out.write(encoded)
    if kind != GGML_BF16:
        out.write(np.ascontiguousarray(data, dtype="<f2" if half else "<f4").tobytes())
        return
    rows = max(1, BF16_BLOCK // data.shape[1])
    for start in range(0, data.shape[0], rows):
        out.write(to_bfloat16(data[start:start + rows]).tobytes())


def to_bfloat16(data: Array) -> npt.NDArray[np.uint16]:
    """The bfloat16 bits of ``data``, rounded to the nearest (ties to even)."""
    bits = np.ascontiguousarray(data, dtype="<f4").view("<u4")
    rounded: npt.NDArray[np.uint16] = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    return rounded


def read_ggml(path: Path) -> Checkpoint:
    """A whisper.cpp GGML model of f16 or f32 tensors, to be written again (quantized ones are refused)."""
    with path.open("rb") as handle:
        header = struct.unpack("<12i", handle.read(48))
        if header[0] != MAGIC:
            raise ModelImportError(f"{path} is not a whisper.cpp GGML model file")
        if header[11] % 1000 not in (0, FTYPE_F16):  # ggml folds a quantization version in as thousands
            raise ModelImportError(f"{path} is quantized or bf16 already: start from the f16 model")
        n_mels, n_fft = struct.unpack("<2i", handle.read(8))
        filters = np.fromfile(handle, "<f4", count=n_mels * n_fft).reshape(n_mels, n_fft)
        tokens = [handle.read(_unpack(handle, "<i")) for _ in range(_unpack(handle, "<i"))]
        start = handle.tell()
    return Checkpoint(Hyper(*header[1:11]), tokens, lambda: _ggml_tensors(path, start), filters)


def _ggml_tensors(path: Path, offset: int) -> Iterator[Tensor]:
    dtypes: dict[int, np.dtype[Any]] = {GGML_F32: np.dtype("<f4"), GGML_F16: np.dtype("<f2")}
    with path.open("rb") as handle:
        handle.seek(offset)
        while header := handle.read(12):
            n_dims, name_length, kind = struct.unpack("<3i", header)
            shape = struct.unpack(f"<{n_dims}i", handle.read(4 * n_dims))[::-1]
            name = handle.read(name_length).decode()
            if kind not in dtypes:
                raise ModelImportError(f"{path}: tensor {name} has ggml type {kind}, not f16 or f32")
            data: Array = np.fromfile(handle, dtypes[kind], count=int(np.prod(shape)))
            if data.size != int(np.prod(shape)):
                raise ModelImportError(f"{path} is truncated in tensor {name}")
            yield name, data.reshape(shape)


def convert(folder: Path, destination: Path, expected_sha256: str | None = None,
            check: Callable[[Path], None] | None = None) -> Path:
    """Convert the checkpoint in ``folder`` to ``destination`` through a ``.part`` file: with
    ``expected_sha256`` the result must match it, and ``check`` (loading it in whisper.cpp, say) must
    pass before the rename; a failed conversion leaves nothing behind."""
    with replaced_when_done(destination, check) as part:
        write_ggml(read_checkpoint(folder), part)
        if expected_sha256 is not None and file_sha256(part) != expected_sha256:
            raise ChecksumMismatchError(f"the conversion of {folder} gave a file other than the pinned one "
                                        f"(expected sha256 {expected_sha256})")
    return destination


