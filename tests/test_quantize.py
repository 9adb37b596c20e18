"""Quantized models: whisper.cpp's quantizer writes them (bf16: numpy), whisper-api checks and names them."""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run_cli
from whisper_api.engine.quantize import find_quantizer
from whisper_api.errors import EngineError, ModelImportError
from whisper_api.models.convert import read_ggml, to_bfloat16, write_ggml
from whisper_api.models.ggml import MAGIC


@pytest.fixture(scope="module")
def quantizer() -> Path:
    try:
        return find_quantizer(Path(tempfile.gettempdir()))
    except EngineError:
        pytest.skip("whisper-quantize is not built: run `make whisper-cli`")


def test_a_quantized_copy_is_written_checked_and_named(quantizer: Path, micro_model: Path, home: Path) -> None:
    models = home / "models"
    models.mkdir(parents=True)
    source = shutil.copy(micro_model, models / "ggml-micro.bin")
    result = run_cli("models", "quantize", "micro", "--type", "q8_0")
    assert result.returncode == 0, result.stderr.decode()
    quantized = models / "ggml-micro-q8_0.bin"
    assert quantized.is_file() and quantized.stat().st_size < Path(source).stat().st_size
    assert b"--model micro-q8_0" in result.stderr
    again = run_cli("models", "quantize", "micro", "--type", "q8_0")
    assert again.returncode == 1 and b"--force" in again.stderr


def test_an_unknown_type_is_refused_and_leaves_nothing(quantizer: Path, micro_model: Path, home: Path) -> None:
    models = home / "models"
    models.mkdir(parents=True)
    shutil.copy(micro_model, models / "ggml-micro.bin")
    result = run_cli("models", "quantize", "micro", "--type", "q3_k")
    assert result.returncode == 1 and b"q8_0, q5_1, q5_0, q4_0, bf16" in result.stderr
    assert sorted(path.name for path in models.iterdir()) == ["ggml-micro.bin"]


def tensor_types(path: Path) -> dict[str, int]:
    """Each tensor's ggml type number in a GGML model file (read_ggml's walk, types only)."""
    with path.open("rb") as handle:
        handle.seek(44 + 4)
        n_mels, n_fft = struct.unpack("<2i", handle.read(8))
        handle.seek(4 * n_mels * n_fft, 1)
        for _ in range(struct.unpack("<i", handle.read(4))[0]):
            handle.seek(struct.unpack("<i", handle.read(4))[0], 1)
        types = {}
        while header := handle.read(12):
            n_dims, name_length, kind = struct.unpack("<3i", header)
            shape = struct.unpack(f"<{n_dims}i", handle.read(4 * n_dims))
            types[handle.read(name_length).decode()] = kind
            handle.seek(int(np.prod(shape)) * {0: 4, 1: 2, 30: 2}[kind], 1)
    return types


def test_a_bf16_copy_needs_no_quantizer_and_keeps_what_whisper_cpp_wants_in_other_types(
        micro_model: Path, home: Path) -> None:
    models = home / "models"
    models.mkdir(parents=True)
    shutil.copy(micro_model, models / "ggml-micro.bin")
    result = run_cli("models", "quantize", "micro", "--type", "bf16")  # loaded and run by the check
    assert result.returncode == 0, result.stderr.decode()
    copy = models / "ggml-micro-bf16.bin"
    assert struct.unpack_from("<i", copy.read_bytes(), 44)[0] == 24  # the header's ftype: mostly bf16
    source, written = tensor_types(micro_model), tensor_types(copy)
    assert written.keys() == source.keys()
    assert written["decoder.token_embedding.weight"] == written["encoder.blocks.0.mlp.0.weight"] == 30
    assert written["encoder.conv1.weight"] == 1 and written["encoder.positional_embedding"] == 0
    assert {name for name, kind in written.items() if kind != source[name]} == {
        name for name, kind in source.items() if kind == 1 and "conv" not in name}


def test_a_quantized_model_is_not_converted_again(tmp_path: Path) -> None:
    quantized = tmp_path / "ggml-q.bin"
    quantized.write_bytes(struct.pack("<12i", MAGIC, *[1] * 10, 7))  # ftype 7: q8_0
    with pytest.raises(ModelImportError, match="start from the f16 model"):
        read_ggml(quantized)


def test_bfloat16_rounds_to_the_nearest_ties_to_even() -> None:
    values = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, -2.5, 1 + 2**-9], np.float32)
    assert to_bfloat16(values).tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x3F80]


def test_an_f16_model_read_and_written_again_is_the_same_file(micro_model: Path, tmp_path: Path) -> None:
    """read_ggml keeps everything write_ggml needs: hyper-parameters, mel filters, vocabulary, tensors."""
    assert write_ggml(read_ggml(micro_model), tmp_path / "again.bin").read_bytes() == micro_model.read_bytes()
