"""The exception tree every front end maps: the CLI to exit codes, the server to HTTP errors.

Messages are written for the person running the command: one line, naming the file or
model involved and, where there is one, the command that fixes it.
"""

from __future__ import annotations


class WhisperApiError(Exception):
    """Base of every error whisper-api raises on purpose."""


class InvalidOptionError(WhisperApiError):
    """An option value that cannot work (unknown language, translate on an English-only model...)."""


class SettingsError(WhisperApiError):
    """A setting from the environment or the config file that cannot be parsed."""


class AudioDecodeError(WhisperApiError):
    """Input that is missing, empty, or not decodable as audio."""


class AudioTooLongError(AudioDecodeError):
    """Audio longer than the caller allows."""


class ModelNotFoundError(WhisperApiError):
    """A model name that is unknown, or known but not installed."""


class ModelDownloadError(WhisperApiError):
    """A download that failed: network, HTTP status, or a checksum that does not match."""


class ChecksumMismatchError(ModelDownloadError):
    """A downloaded file whose hash differs from the catalogue's."""


class ModelImportError(WhisperApiError):
    """A checkpoint that cannot be converted: an unknown layout, files that disagree, or a failed check."""


class EngineError(WhisperApiError):
    """The speech engine failed to load a model or to run."""


class TranscriptionCancelled(WhisperApiError):
    """A transcription stopped because its caller asked it to."""


class KeyStoreError(WhisperApiError):
    """The API key database cannot be opened or written, or a request to it makes no sense."""


class KeyNotFoundError(KeyStoreError):
    """No key has the given id."""
