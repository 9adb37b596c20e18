"""OpenAI's speech-to-text API: ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``.

A multipart ``file`` plus OpenAI's fields, the API key as ``Authorization: Bearer <key>`` (the
same key store), errors in OpenAI's ``{"error": {...}}`` shape. The transcription goes through the
same admission queue and job runner as ``POST /v1/listen``; ``whisper-1`` (or any OpenAI model
name) means the server's default model.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body
from litestar.types import ExceptionHandler

from whisper_api.errors import WhisperApiError
from whisper_api.formats.subrip import to_srt
from whisper_api.formats.webvtt import to_vtt
from whisper_api.options import RANGES, TranscribeOptions
from whisper_api.server.auth import Caller
from whisper_api.server.callbacks import RecordUsage
from whisper_api.server.deepgram.model_names import whisper_name
from whisper_api.server.deps import TRANSCRIBE, Pool, Usage, access
from whisper_api.server.errors import ApiError, from_core
from whisper_api.server.headers import UTF8, request_id, response_media_type
from whisper_api.server.openapi import TRANSCRIBING, OpenAIError, OpenAIOperation, errors
from whisper_api.server.workers import Workers
from whisper_api.transcript import Transcript

MAX_UPLOAD_BYTES = 100 * 2**20
"""Multipart bodies are parsed in memory, so they get their own cap (OpenAI's own is 25 MB)."""
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
logger = logging.getLogger("whisper_api.server")
TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def _error(status: int, message: str, kind: str, code: str | None = None, param: str | None = None) -> Response[Any]:
    return Response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def _api_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any failure, in OpenAI's error shape (the Deepgram routes keep theirs)."""
    if isinstance(exc, WhisperApiError):
        exc = from_core(exc)
    code = exc.err_code if isinstance(exc, ApiError) else f"HTTP_{exc.status_code}" if isinstance(
        exc, HTTPException) else "INTERNAL_SERVER_ERROR"
    request.app.state.server.metrics.errors.labels(code).inc()
    if isinstance(exc, ApiError):
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
        response = _error(exc.status, exc.err_msg, kind, codes.get(exc.status))
        response.headers.update(exc.headers)
        return response
    if isinstance(exc, HTTPException):
        response = _error(exc.status_code, str(exc.detail), "invalid_request_error")
        response.headers.update(exc.headers or {})
        return response
    logger.exception("unexpected error in %s %s", request.method, request.url.path)
    return _error(500, "Unexpected server error.", "server_error")


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", f"Invalid {param}: {message}")


def _field(form: dict[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _temperature(form: dict[str, Any]) -> float:
    allowed = RANGES["temperature"]
    try:
        value = float(_field(form, "temperature") or 0.0)
    except ValueError:
        raise _invalid("temperature", allowed.wanted) from None
    if not allowed.holds(value):
        raise _invalid("temperature", allowed.wanted)
    return value


def _granularities(form: dict[str, Any]) -> set[str]:
    values = form.get("timestamp_granularities[]", form.get("timestamp_granularities", []))
    chosen = {values} if isinstance(values, str) else set(values)
    if not chosen <= {"word", "segment"}:
        raise _invalid("timestamp_granularities", "word or segment")
    return chosen or {"segment"}


def _model(form: dict[str, Any]) -> str | None:
    """OpenAI's own model names (whisper-1, gpt-4o-transcribe...) mean the server's default model."""
    name = _field(form, "model")
    return None if name is None or name == "whisper-1" or name.startswith("gpt-") else name


def _options(form: dict[str, Any], translate: bool, model: str) -> TranscribeOptions:
    language = None if translate else _field(form, "language")
    return TranscribeOptions(model=model, language=language, translate=translate,
                             initial_prompt=_field(form, "prompt"), temperature=_temperature(form))


def verbose_json(transcript: Transcript, task: str, words: bool) -> dict[str, Any]:
    """OpenAI's verbose_json: segments always; words when asked for (``timestamp_granularities[]=word``)."""
    document: dict[str, Any] = {
        "task": task, "language": transcript.language, "duration": transcript.duration, "text": transcript.text,
        "segments": [{"id": index, "seek": 0, "start": segment.start, "end": segment.end, "text": segment.text,
                      "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0,
                      "no_speech_prob": 0.0}
                     for index, segment in enumerate(transcript.segments)],
    }
    if words:
        document["words"] = [{"word": word.text, "start": word.start, "end": word.end} for word in transcript.words()]
    return document


def _render(transcript: Transcript, response_format: str, task: str, granularities: set[str]) -> Response[Any]:
    if response_format == "json":
        return Response({"text": transcript.text})
    if response_format == "verbose_json":
        return Response(verbose_json(transcript, task, "word" in granularities))
    formatter = {"text": lambda t: t.text + "\n", "srt": to_srt, "vtt": to_vtt}[response_format]
    return Response(formatter(transcript), media_type=response_media_type(TEXT_TYPES[response_format] + UTF8))


async def _handle(request: Request[Any, Any, Any], workers: Workers, usage: RecordUsage, caller: Caller,
                  form: dict[str, Any], task: str) -> Response[Any]:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _invalid("file", "a file is required (multipart field 'file')")
    response_format = _field(form, "response_format") or "json"
    if response_format not in FORMATS:
        raise _invalid("response_format", ", ".join(FORMATS))
    granularities = _granularities(form)
    options = _options(form, task == "translate", whisper_name(_model(form), workers.default_model, workers.models))
    with tempfile.TemporaryDirectory(prefix="whisper-api-openai-") as work:
        source = Path(work) / "audio"
        source.write_bytes(await upload.read())
        if source.stat().st_size == 0:
            raise _invalid("file", "the file is empty")
        transcript = await workers.transcribe_for(request, source, options, None)
    await usage(caller.key_id, transcript.duration, request_id(request))
    return _render(transcript, response_format, task, granularities)


OPENAI_RESPONSES = errors(*TRANSCRIBING, body=OpenAIError)

# Every error type the app maps to Deepgram's shape, mapped to OpenAI's here instead.
OPENAI_ERRORS: dict[int | type[Exception], ExceptionHandler[Any]] = dict.fromkeys(
    (ApiError, WhisperApiError, HTTPException, Exception), _api_error)


def _route(path: str) -> HTTPRouteHandler:
    """The two OpenAI routes: multipart uploads, OpenAI's error shape, a transcription each."""
    return post(path, request_max_body_size=MAX_UPLOAD_BYTES, status_code=200, exception_handlers=OPENAI_ERRORS,
                operation_class=OpenAIOperation, responses=OPENAI_RESPONSES, opt=access(TRANSCRIBE))


@_route("/v1/audio/transcriptions")
async def transcriptions(request: Request[Any, Any, Any], workers: Pool, usage: Usage, caller: Caller,
                         data: Form) -> Response[Any]:
    return await _handle(request, workers, usage, caller, data, "transcribe")


@_route("/v1/audio/translations")
async def translations(request: Request[Any, Any, Any], workers: Pool, usage: Usage, caller: Caller,
                       data: Form) -> Response[Any]:
    return await _handle(request, workers, usage, caller, data, "translate")

