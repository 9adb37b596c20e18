"""The weights the in-process engine loads: a model as stored, or, with the ``auto`` setting, the fastest
form of it this binding runs (the dev sets' words the same, or within one: docs/benchmarks.md):

- **the decoder quantized to q8_0 as it loads** (a binding whisper-api built: ``decoder_type``,
  engine/source_edits.py). The decoder runs once per token on one position, so each product reads
  every weight for a few multiplications and waits on memory; q8_0 halves the bytes. The encoder,
  bound by arithmetic, stays in the file's type. Decoding takes about a third less time, a long
  transcription 6-14 % less CPU (docs/benchmarks.md, "Peers");
- **a bf16 copy of an f16 model**, made once beside it (in ``.bf16/``), on CPUs whose bfloat16
  instructions ggml uses (AVX512_BF16). bf16 keeps f16's size, and there ggml's matrix kernels multiply
  it at the instruction set's bf16 rate instead of widening f16 to f32 first: the encoder, most of a
  long file's time, takes about 10 % less, at the same words on the dev set (docs/benchmarks.md,
  "Quantized models" and "Peers"). Elsewhere ggml would widen bf16 in software, slower than f16. The
  copy is what ``whisper-api models quantize --type bf16`` writes; it is made again when its model
  file changes, and where it cannot be made (a read-only models folder, a damaged model) the model
  runs as stored.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from whisper_api.errors import WhisperApiError
from whisper_api.models.convert import read_ggml, write_ggml
from whisper_api.models.ggml import read_header
from whisper_api.models.store import bf16_copy_path, part_affixes
from whisper_api.settings import WEIGHTS

AUTO, STORED = WEIGHTS
GGML_TYPE_Q8_0 = 8
"""ggml's number for q8_0 (``enum ggml_type``), the type ``auto`` gives a decoder."""
_log = logging.getLogger(__name__)
_copying = threading.Lock()
"""One copy made at a time in a process: workers loading the same model wait for the first one's copy."""


def built_with(system_info: str, feature: str) -> bool:
    """Whether a ggml build's system information (``whisper_print_system_info``) lists ``feature`` on."""
    return f" {feature} = 1" in f" {system_info}"


def runs_bf16_natively(system_info: str) -> bool:
    return built_with(system_info, "AVX512_BF16")


def _is_current(copy: Path, model: os.stat_result) -> bool:
    """A bf16 copy has its model's size (both types take two bytes a weight) and, stamped, its time."""
    try:
        found = copy.stat()
    except OSError:
        return False
    return found.st_size == model.st_size and found.st_mtime_ns == model.st_mtime_ns


def bf16_copy(model: Path) -> Path:
    """The bf16 copy of ``model``, written through a temporary file of its own (other processes may load
    the same model at once) and stamped with the model's size and time, so a replaced model gets a new
    copy; ``model`` itself if it changed while the copy was written."""
    copy = bf16_copy_path(model)
    with _copying:
        before = model.stat()
        if _is_current(copy, before):
            return copy
        copy.parent.mkdir(exist_ok=True)
        prefix, suffix = part_affixes(copy)
        handle, name = tempfile.mkstemp(dir=copy.parent, prefix=prefix, suffix=suffix)
        os.close(handle)
        part = Path(name)
        try:
            write_ggml(read_ggml(model), part, bf16=True)
            part.chmod(before.st_mode & 0o777)  # mkstemp's is 0600: readable by whoever may read the model
            os.utime(part, ns=(before.st_atime_ns, before.st_mtime_ns))
            if model.stat().st_mtime_ns != before.st_mtime_ns:  # replaced meanwhile: this copy is of neither
                part.unlink()
                return model
            part.replace(copy)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return copy


@dataclass(frozen=True)
class Weights:
    path: Path
    """The file to load."""
    decoder_type: int | None = None
    """The ggml type the decoder's matrices are quantized to as they load (``decoder_type``); None: as
    stored. whisper.cpp applies it to 16-bit float models only."""

    def __str__(self) -> str:
        decoder = "" if self.decoder_type is None else f" with its decoder as ggml type {self.decoder_type}"
        return f"{self.path.name}{decoder}"


def weights_for(model: Path, choice: str, system_info: str, quantizes_decoder: bool) -> Weights:
    """What to load for ``model``: with ``choice`` auto, its bf16 copy when this build of ggml uses the
    CPU's bf16 instructions and ``model`` holds f16 weights, and a q8_0 decoder when the binding
    (``quantizes_decoder``) can make one; else ``model`` as stored. A copy that cannot be made costs
    speed, not the transcription: loading the model itself then says what is wrong."""
    if choice != AUTO:
        return Weights(model)
    decoder_type = GGML_TYPE_Q8_0 if quantizes_decoder else None
    if not runs_bf16_natively(system_info):
        return Weights(model, decoder_type)
    try:
        return Weights(bf16_copy(model) if read_header(model).f16 else model, decoder_type)
    except (OSError, ValueError, struct.error, WhisperApiError) as exc:
        _log.warning("running %s from its own file: its bf16 copy could not be made (%s)", model.name, exc)
        return Weights(model, decoder_type)
