"""whisper-api: self-hosted speech-to-text on whisper.cpp.

    >>> from whisper_api import Transcriber, TranscribeOptions
    >>> with Transcriber() as transcriber:
    ...     transcript = transcriber.transcribe("talk.mp3", TranscribeOptions(model="base.en"))

The names below are imported on first use, so ``whisper-api --version`` and ``--help`` start
without loading numpy, the engine or the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whisper_api.audio import DecodedAudio
    from whisper_api.core import Transcriber, transcribe
    from whisper_api.errors import WhisperApiError
    from whisper_api.options import DiarizeOptions, TranscribeOptions
    from whisper_api.transcript import Segment, Transcript, Word

    __version__: str

_HOMES = {
    "DecodedAudio": "whisper_api.audio",
    "DiarizeOptions": "whisper_api.options",
    "Segment": "whisper_api.transcript",
    "TranscribeOptions": "whisper_api.options",
    "Transcriber": "whisper_api.core",
    "Transcript": "whisper_api.transcript",
    "WhisperApiError": "whisper_api.errors",
    "Word": "whisper_api.transcript",
    "transcribe": "whisper_api.core",
}

__all__ = [
    "DecodedAudio",
    "DiarizeOptions",
    "Segment",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "WhisperApiError",
    "Word",
    "__version__",
    "transcribe",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("whisper-api")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            return "0.0.0"
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'whisper_api' has no attribute {name!r}")
