"""The exception tree every front end maps: the CLI to exit codes, the server to HTTP errors.

Messages are written for the person running the command: one line, naming the file or
model involved and, where there is one, the command that fixes it. Each class carries a
``code`` (stable, for programs) and the HTTP ``status`` it suggests: the server's error shapes
(Deepgram's, OpenAI's) are built from these in one place each, never by guessing from the class.
"""

from __future__ import annotations


class WhisperApiError(Exception):
    """Base of every error whisper-api raises on purpose."""

    code = "INTERNAL_ERROR"
    status = 500


def missing_extra(what: str, extra: str) -> WhisperApiError:
    """What to install when an optional part's packages are absent."""
    return WhisperApiError(f"{what} needs its extra: pip install 'whisper-api[{extra}]'")


class InvalidOptionError(WhisperApiError):
    """An option value that cannot work (unknown language, translate on an English-only model...)."""

    code = "INVALID_OPTION"
    status = 400


class SettingsError(WhisperApiError):
    """A setting from the environment or the config file that cannot be parsed."""

    code = "INVALID_SETTING"
    status = 500


class AudioDecodeError(WhisperApiError):
    """Input that is missing, empty, or not decodable as audio."""

    code = "BAD_AUDIO"
    status = 400


class AudioTooLongError(AudioDecodeError):
    """Audio longer than the caller allows."""

    code = "AUDIO_TOO_LONG"
    status = 400


class ModelNotFoundError(WhisperApiError):
    """A model name that is unknown, or known but not installed."""

    code = "MODEL_NOT_FOUND"
    status = 400


class ModelDownloadError(WhisperApiError):
    """A download that failed: network, HTTP status, or a checksum that does not match."""

    code = "DOWNLOAD_FAILED"
    status = 502


class ChecksumMismatchError(ModelDownloadError):
    """A downloaded file whose hash differs from the catalogue's."""

    code = "CHECKSUM_MISMATCH"
    status = 502


class ModelImportError(WhisperApiError):
    """A checkpoint that cannot be converted: an unknown layout, files that disagree, or a failed check."""

    code = "IMPORT_FAILED"
    status = 400


class EngineError(WhisperApiError):
    """The speech engine failed to load a model or to run."""

    code = "ENGINE_FAILED"
    status = 500


class TranscriptionCancelled(WhisperApiError):
    """A transcription stopped because its caller asked it to."""

    code = "CANCELLED"
    status = 499


class KeyStoreError(WhisperApiError):
    """A request to the key store that makes no sense (an unknown scope), or an unusable key secret."""

    code = "INVALID_KEY_REQUEST"
    status = 400


class KeyNotFoundError(KeyStoreError):
    """No key has the given id."""

    code = "KEY_NOT_FOUND"
    status = 404


class DatabaseError(WhisperApiError):
    """The shared database (keys, usage, jobs) cannot be opened, read or written."""

    code = "DATABASE_UNAVAILABLE"
    status = 503


class JobNotFoundError(WhisperApiError):
    """No job has the given id."""

    code = "JOB_NOT_FOUND"
    status = 404
