"""whisper-api: self-hosted speech-to-text on whisper.cpp.

    >>> from whisper_api import Transcriber, TranscribeOptions
    >>> with Transcriber() as transcriber:
    ...     transcript = transcriber.transcribe("talk.mp3", TranscribeOptions(model="base.en"))
"""

from importlib.metadata import PackageNotFoundError, version

from whisper_api.audio import DecodedAudio
from whisper_api.core import Transcriber, transcribe
from whisper_api.errors import WhisperApiError
from whisper_api.options import DiarizeOptions, TranscribeOptions
from whisper_api.transcript import Segment, Transcript, Word

try:
    __version__ = version("whisper-api")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

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
