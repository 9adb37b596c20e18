"""weights = auto: an f16 model runs from a bf16 copy beside it where ggml uses the CPU's bf16
instructions, and with its decoder quantized to q8_0 as it loads where the binding can; with stored
weights, and when the copy cannot be written, the model runs as stored."""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from whisper_api.core import Transcriber
from whisper_api.engine import native, weights
from whisper_api.engine.native import NativeEngine, binding_quantizes_decoder
from whisper_api.engine.weights import AUTO, GGML_TYPE_Q8_0, STORED, Weights, runs_bf16_natively, weights_for
from whisper_api.errors import EngineError
from whisper_api.models.convert import FTYPE_BF16
from whisper_api.models.ggml import read_header
from whisper_api.models.store import ModelStore, bf16_copy_path
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings

WITH_BF16 = "AVX = 1 | AVX512 = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1"
WITHOUT_BF16 = "AVX = 1 | AVX512 = 1 | AVX512_BF16 = 0 | LLAMAFILE = 1"


def file_for(model: Path, choice: str, system_info: str) -> Path:
    return weights_for(model, choice, system_info, quantizes_decoder=False).path


@pytest.fixture
def model(tmp_path: Path, micro_model: Path) -> Path:
    return Path(shutil.copy(micro_model, tmp_path / "ggml-micro.bin"))


def test_an_f16_model_runs_from_a_bf16_copy_made_once(model: Path) -> None:
    model.chmod(0o644)
    copy = file_for(model, AUTO, WITH_BF16)
    assert copy == model.parent / ".bf16" / model.name and read_header(copy).ftype == FTYPE_BF16
    assert copy.stat().st_mode & 0o777 == 0o644  # whoever may read the model may read its copy
    made = copy.stat().st_ino
    assert file_for(model, AUTO, WITH_BF16) == copy and copy.stat().st_ino == made  # not written again
    os.utime(model, ns=(1, 1))  # the model replaced: a new copy
    assert file_for(model, AUTO, WITH_BF16).stat().st_ino != made


def test_a_link_gets_the_copy_of_the_file_it_points_to(model: Path, tmp_path: Path) -> None:
    link = tmp_path / "elsewhere" / "ggml-linked.bin"
    link.parent.mkdir()
    link.symlink_to(model)
    assert file_for(link, AUTO, WITH_BF16) == bf16_copy_path(model)


def test_stored_weights_other_cpus_and_other_types_run_the_model_itself(model: Path) -> None:
    assert file_for(model, STORED, WITH_BF16) == model
    assert file_for(model, AUTO, WITHOUT_BF16) == model
    assert not runs_bf16_natively(WITHOUT_BF16) and not (model.parent / ".bf16").exists()
    bf16 = file_for(model, AUTO, WITH_BF16)
    assert file_for(bf16, AUTO, WITH_BF16) == bf16  # already bf16 (or quantized): nothing to make


def test_a_copy_that_cannot_be_written_costs_speed_not_the_transcription(
        model: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(_: object, destination: Path, bf16: bool) -> None:
        destination.write_bytes(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights, "write_ggml", disk_full)
    with caplog.at_level(logging.WARNING, logger="whisper_api.engine.weights"):
        assert file_for(model, AUTO, WITH_BF16) == model
    assert "running ggml-micro.bin from its own file" in caplog.text and "No space left" in caplog.text
    assert list((model.parent / ".bf16").iterdir()) == []  # the half-written file is gone


def test_a_damaged_or_unwritable_model_still_gets_whisper_cpps_own_error(model: Path) -> None:
    model.write_bytes(model.read_bytes()[:60])  # the header and little else
    assert file_for(model, AUTO, WITH_BF16) == model
    with pytest.raises(EngineError, match="holds no weights"):
        NativeEngine(weights=AUTO).model(model)
    (model.parent / ".bf16").rmdir()
    (model.parent / ".bf16").write_text("a file where the folder would go")
    assert file_for(model, AUTO, WITH_BF16) == model


def test_the_engine_loads_the_copy_and_falls_back_when_it_does_not_load(
        model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(native.pw, "whisper_print_system_info", lambda: WITH_BF16)
    assert NativeEngine(weights=AUTO).model(model).path == bf16_copy_path(model)
    assert NativeEngine(weights=STORED).model(model).path == model
    copy = bf16_copy_path(model)  # a current stamp on a copy whisper.cpp refuses
    stamp = copy.stat()
    copy.write_bytes(b"\0" * stamp.st_size)
    os.utime(copy, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    with caplog.at_level(logging.WARNING, logger="whisper_api.engine.native"):
        assert NativeEngine(weights=AUTO).model(model).path == model
    assert "running ggml-micro.bin as stored" in caplog.text and "does not load" in caplog.text


def test_auto_quantizes_the_decoder_where_the_binding_can(model: Path) -> None:
    assert weights_for(model, AUTO, WITHOUT_BF16, quantizes_decoder=True) == Weights(model, GGML_TYPE_Q8_0)
    assert weights_for(model, AUTO, WITH_BF16, quantizes_decoder=True) == Weights(bf16_copy_path(model), GGML_TYPE_Q8_0)
    assert weights_for(model, AUTO, WITHOUT_BF16, quantizes_decoder=False) == Weights(model)
    assert weights_for(model, STORED, WITH_BF16, quantizes_decoder=True) == Weights(model)


def test_f32_and_quantized_models_run_as_they_are(tmp_path: Path, model: Path) -> None:
    f32 = tmp_path / "ggml-f32.bin"
    data = bytearray(model.read_bytes())
    data[44:48] = struct.pack("<i", 0)  # the header's type word: f32 weights
    f32.write_bytes(bytes(data))
    assert file_for(f32, AUTO, WITH_BF16) == f32


def test_removing_a_model_removes_its_copy(home: Path, micro_model: Path) -> None:
    models = home / "models"
    models.mkdir(parents=True)
    model = Path(shutil.copy(micro_model, models / "ggml-micro.bin"))
    copy = file_for(model, AUTO, WITH_BF16)
    left = copy.parent / f".{copy.name}.x1y2z3.part"  # what a process killed while writing leaves
    left.write_bytes(b"half")
    ModelStore(models).remove("micro")
    assert not copy.exists() and not model.exists() and not left.exists()


def test_real_tiny_en_says_the_same_words_from_its_bf16_copy(tiny_en: Path, jfk: Path, tmp_path: Path) -> None:
    import _pywhispercpp as pw

    if not runs_bf16_natively(str(pw.whisper_print_system_info())):
        pytest.skip("this binding does not use bf16 instructions here (no AVX512_BF16, or the published wheel)")
    model = Path(shutil.copy(tiny_en, tmp_path / tiny_en.name))  # its copy made here, not beside the shared one
    texts = {}
    for choice in (AUTO, STORED):
        settings = load_settings({"models_dir": str(tmp_path), "weights": choice})
        with Transcriber(settings) as transcriber:
            texts[choice] = transcriber.transcribe(jfk, TranscribeOptions(model=str(model), language="en")).text
    assert bf16_copy_path(model).is_file()
    assert texts[AUTO] == texts[STORED]
    assert "ask not what your country can do for you" in texts[AUTO].lower()


def test_real_tiny_en_says_the_same_words_with_its_decoder_quantized_as_it_loads(tiny_en: Path, jfk: Path) -> None:
    if not binding_quantizes_decoder():
        pytest.skip("this binding cannot quantize a decoder as it loads (the published wheel)")
    texts = {}
    for choice in (AUTO, STORED):
        with Transcriber(load_settings({"weights": choice})) as transcriber:
            texts[choice] = transcriber.transcribe(jfk, TranscribeOptions(model=str(tiny_en), language="en")).text
    assert texts[AUTO] == texts[STORED]
    assert "ask not what your country can do for you" in texts[AUTO].lower()


GGML_TYPE_Q4_0 = 2
QUANTIZED_DECODER_CHILD = """
import sys
from pathlib import Path

import _pywhispercpp as pw

from whisper_api.audio import decode_file
from whisper_api.engine import native
from whisper_api.engine.weights import Weights

model = native.LoadedModel(Weights(Path(sys.argv[1]), int(sys.argv[3])), native.ContextSettings())
samples = decode_file(Path(sys.argv[2])).mono()
params = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
params.language = "en"
assert pw.whisper_full(model.ctx, params, samples, samples.size) == 0
segments = range(pw.whisper_full_n_segments(model.ctx))
print(b"".join(pw.whisper_full_get_segment_text(model.ctx, i) for i in segments).decode())
"""


def test_real_tiny_en_runs_a_decoder_that_ggml_repacks_as_it_loads(tiny_en: Path, jfk: Path) -> None:
    """ggml re-lays some quantized matrices for its CPU kernels as they are set (q8_0 on ARM CPUs with
    dot-product instructions, q4_0 on AVX2), and such a matrix must be set whole. q4_0 takes that path
    on x86 machines too; in a process of its own, since ggml aborts the process on a partial set."""
    if not binding_quantizes_decoder():
        pytest.skip("this binding cannot quantize a decoder as it loads (the published wheel)")
    command = [sys.executable, "-c", QUANTIZED_DECODER_CHILD, str(tiny_en), str(jfk), str(GGML_TYPE_Q4_0)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ask not what your country can do for you" in result.stdout.lower()


def test_a_decoder_type_whisper_cpp_cannot_make_is_a_clear_load_error(tiny_en: Path) -> None:
    if not binding_quantizes_decoder():
        pytest.skip("this binding cannot quantize a decoder as it loads (the published wheel)")
    with pytest.raises(EngineError, match="the decoder cannot be quantized to type 1"):
        native.LoadedModel(Weights(tiny_en, decoder_type=1), native.ContextSettings())  # f16 is no quantized type


def test_engine_info_says_what_the_weights_setting_does_here() -> None:
    import _pywhispercpp as pw

    here = "f16 models run from bf16 copies" if runs_bf16_natively(str(pw.whisper_print_system_info())) \
        else "f16 and bf16 models run with their decoders quantized to q8_0" if binding_quantizes_decoder() \
        else "models run as their files are"
    assert f"weights: auto: {here}" in run_cli("engine", "info").stderr.decode()
    stored = run_cli("engine", "info", env={"WHISPER_API_WEIGHTS": "stored"}).stderr.decode()
    assert "weights: stored: models run as their files are" in stored
