"""The weights the in-process engine loads: a model as stored, or, on CPUs whose bfloat16 instructions
ggml uses (AVX512_BF16), a bf16 copy of an f16 model, made once beside it (in ``.bf16/``).

bf16 keeps f16's size, and there ggml's matrix kernels multiply it at the instruction set's bf16 rate
instead of widening f16 to f32 first: the encoder, most of a long file's time, takes about 10 % less,
at the same words on the dev set (docs/benchmarks.md, "Quantized models" and "Peers"). Elsewhere ggml
would widen bf16 in software, slower than f16, so the model runs as stored. The copy is what
``whisper-api models quantize --type bf16`` writes; it is made again when its model file changes, and
where it cannot be written (a read-only models folder) the model runs as stored, with a warning.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
from pathlib import Path

from whisper_api.errors import ModelImportError
from whisper_api.models.convert import FTYPE_F16, read_ggml, write_ggml
from whisper_api.models.ggml import MAGIC
from whisper_api.models.store import bf16_copy_path

AUTO, STORED = "auto", "stored"
NATIVE_BF16 = " AVX512_BF16 = 1"
"""What ggml's system information says when it was built to use the CPU's bf16 instructions."""
_log = logging.getLogger(__name__)


def runs_bf16_natively(system_info: str) -> bool:
    return NATIVE_BF16 in f" {system_info}"


def is_half(model: Path) -> bool:
    """Whether ``model`` is a GGML file of f16 weights (or f32): what a bf16 copy can be made from."""
    with model.open("rb") as handle:
        header = handle.read(48)
    if len(header) < 48:
        return False
    fields = struct.unpack("<12i", header)
    return fields[0] == MAGIC and fields[11] % 1000 in (0, FTYPE_F16)


def bf16_copy(model: Path) -> Path:
    """The bf16 copy of ``model``, written through a temporary file of its own (workers may load the same
    model at once) and stamped with the model's modification time, so a replaced model gets a new copy."""
    copy, stamp = bf16_copy_path(model), model.stat().st_mtime_ns
    if copy.is_file() and copy.stat().st_mtime_ns == stamp:
        return copy
    copy.parent.mkdir(exist_ok=True)
    handle, name = tempfile.mkstemp(dir=copy.parent, prefix=f".{copy.name}.", suffix=".part")
    os.close(handle)
    part = Path(name)
    try:
        write_ggml(read_ggml(model), part, bf16=True)
        part.chmod(model.stat().st_mode & 0o777)  # mkstemp's is 0600: readable by whoever may read the model
        os.utime(part, ns=(stamp, stamp))
        part.replace(copy)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return copy


def weights_for(model: Path, choice: str, system_info: str) -> Path:
    """The file to load for ``model``: its bf16 copy when ``choice`` is auto, this build of ggml uses the
    CPU's bf16 instructions and ``model`` holds f16 weights; else ``model`` itself."""
    if choice != AUTO or not runs_bf16_natively(system_info):
        return model
    try:
        return bf16_copy(model) if is_half(model) else model
    except (OSError, ModelImportError) as exc:  # a full or read-only cache costs speed, not the transcription
        _log.warning("running %s as stored: its bf16 copy could not be made (%s)", model.name, exc)
        return model
