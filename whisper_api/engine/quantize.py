"""Quantized models: whisper.cpp's own quantizer (``whisper-quantize``, built beside whisper-cli from
the pinned source) rewrites a GGML model's weight matrices in ggml's block formats.

q8_0 keeps 8 bits per weight (about half the size of f16, near-lossless); q5_1, q5_0 and q4_0 keep
5 or 4 (about a third; more error). Smaller weights mean less memory traffic per decoded token,
which is most of a CPU decode's time.

bf16 is not a quantization but another 16-bit float, written in numpy (``models.convert``): the same
size as f16, and on CPUs with AVX512_BF16 the fastest type there (the encoder's matrix products run
at the instruction set's bf16 rate); elsewhere ggml widens it in software, slower than f16.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from whisper_api.engine.whisper_cli_build import QUANTIZE_NAME, installed_binary
from whisper_api.errors import EngineError, InvalidOptionError
from whisper_api.models.convert import read_ggml, write_ggml
from whisper_api.models.packaged import replaced_when_done

BF16 = "bf16"
TYPES = ("q8_0", "q5_1", "q5_0", "q4_0", BF16)
TIMEOUT = 1800


def find_quantizer(home: Path) -> Path:
    found = installed_binary(QUANTIZE_NAME, home)
    if found is not None:
        return found
    raise EngineError(f"{QUANTIZE_NAME} not found: build it (with whisper-cli) with 'whisper-api engine build'")


def quantize(source: Path, destination: Path, kind: str, home: Path,
             check: Callable[[Path], None] | None = None) -> Path:
    """``source`` quantized to ``kind`` as ``destination``, through a ``.part`` file that ``check``
    (loading it in whisper.cpp, say) must accept first."""
    if kind not in TYPES:
        raise InvalidOptionError(f"quantization type must be one of {', '.join(TYPES)}, not '{kind}'")
    if kind == BF16:
        with replaced_when_done(destination, check) as part:
            write_ggml(read_ggml(source), part, bf16=True)
        return destination
    binary = find_quantizer(home)
    with replaced_when_done(destination, check) as part:
        result = subprocess.run([str(binary), str(source), str(part), kind], capture_output=True, text=True,
                                timeout=TIMEOUT, check=False)
        if result.returncode != 0 or not part.is_file():
            tail = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
            raise EngineError(f"{QUANTIZE_NAME} failed on {source.name} (exit {result.returncode}): {tail}")
    return destination
