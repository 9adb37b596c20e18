"""What a GGML model file says about itself, read from its header without loading it."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from whisper_api.errors import EngineError

MAGIC = 0x67676D6C
MULTILINGUAL_VOCAB = 51865  # whisper.cpp: a vocabulary this large or larger is multilingual
FTYPE_F16 = 1
"""The header's word for f16 weight matrices (ggml's ``ggml_ftype``; quantized files fold a version in
as thousands)."""


@dataclass(frozen=True)
class GgmlHeader:
    n_vocab: int
    n_audio_layer: int
    n_text_layer: int
    ftype: int

    @property
    def f16(self) -> bool:
        """Whether the weight matrices are f16 (not f32, bf16 or quantized)."""
        return self.ftype % 1000 == FTYPE_F16

    @property
    def multilingual(self) -> bool:
        return self.n_vocab >= MULTILINGUAL_VOCAB

    @property
    def end_of_text(self) -> int:
        """Token ids from this one up are special (timestamps, language, task), not text."""
        return 50257 if self.multilingual else 50256


def read_header(path: Path) -> GgmlHeader:
    try:
        with path.open("rb") as handle:
            data = handle.read(48)
    except OSError as exc:
        raise EngineError(f"cannot read model {path}: {exc.strerror}") from exc
    if len(data) < 48 or struct.unpack_from("<I", data)[0] != MAGIC:
        raise EngineError(f"cannot load model {path}: not a whisper.cpp GGML model file")
    n_vocab, _, _, _, n_audio_layer, _, _, _, n_text_layer, _, ftype = struct.unpack_from("<11i", data, 4)
    return GgmlHeader(n_vocab, n_audio_layer, n_text_layer, ftype)
