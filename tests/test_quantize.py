"""Quantized models: whisper.cpp's quantizer writes them, whisper-api checks and names them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from whisper_api.engine.quantize import find_quantizer
from whisper_api.errors import EngineError


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
    assert result.returncode == 1 and b"q8_0, q5_1, q5_0, q4_0" in result.stderr
    assert sorted(path.name for path in models.iterdir()) == ["ggml-micro.bin"]
