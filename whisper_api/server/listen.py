"""``POST /v1/listen``: Deepgram's pre-recorded transcription.

The body (raw audio of any container, or JSON ``{"url": ...}``) is spooled to a private
temporary file while its SHA-256 is computed, within the upload limit. The job waits for a
worker (admission control) and runs on a thread; if the client disconnects or the timeout
passes, the engine is told to stop and the worker is free again at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar import Request, Response, post

from whisper_api.audio import decode_file
from whisper_api.core import Transcriber
from whisper_api.errors import WhisperApiError
from whisper_api.formats.deepgram import ResponseMeta, to_deepgram
from whisper_api.formats.subrip import to_srt
from whisper_api.formats.text import to_text
from whisper_api.formats.webvtt import to_vtt
from whisper_api.keys import utc_now
from whisper_api.server.admission import BATCH, Overloaded
from whisper_api.server.errors import BAD_AUDIO, BAD_JSON, ApiError, bad_request, too_many
from whisper_api.server.fetch import fetch_url
from whisper_api.server.jobs import run_stoppable
from whisper_api.server.models import whisper_name
from whisper_api.server.params import CAPTION_FORMATS, ListenRequest, parse_listen
from whisper_api.server.requests import request_id
from whisper_api.server.spool import Spooled, spool
from whisper_api.server.state import Server
from whisper_api.transcript import Transcript

MAX_JSON_BYTES = 64 * 1024
logger = logging.getLogger("whisper_api.server")


class ClientGone(Exception):
    """The client disconnected before its transcription finished."""


@post("/v1/listen", request_max_body_size=None, status_code=200)
async def listen(request: Request[Any, Any, Any], server: Server) -> Response[Any]:
    rid = request_id(request)
    caller = await server.auth.caller(request.headers.get("authorization"), "listen")
    params = parse_listen(request.query_params.dict())
    model_name = whisper_name(params.model, server.settings.model, server.models)
    with tempfile.TemporaryDirectory(prefix="whisper-api-request-") as work:
        source = Path(work) / "audio"
        fetched = await (_receive_url(request, source, server) if _is_json(request)
                         else spool(request.stream(), source, server.max_bytes, "Request body"))
        if fetched.size == 0:
            raise bad_request(BAD_AUDIO)
        transcript = await transcribe_spooled(request, server, source, params, model_name)
    if caller.key_id is not None and server.store is not None:
        try:
            await asyncio.to_thread(server.store.record_usage, caller.key_id, transcript.duration)
        except WhisperApiError as exc:  # the transcript is done; a retry would only repeat the work
            logger.error("could not record usage for request %s: %s", rid, exc)
    if params.caption_format is not None:
        return _caption_response(transcript, params.caption_format, rid)
    model = await asyncio.to_thread(server.model, model_name)  # a stat and a header read: off the loop
    meta = ResponseMeta(rid, fetched.sha256, utc_now(), model.uuid, model.name, model.version)
    return Response(to_deepgram(transcript, params.response, meta), headers={"dg-request-id": rid})


def _caption_response(transcript: Transcript, caption_format: str, rid: str) -> Response[str]:
    """The same formatters as the CLI's; a file name for browsers that save it."""
    formatter = {"srt": to_srt, "vtt": to_vtt, "text": to_text}[caption_format]
    suffix = "txt" if caption_format == "text" else caption_format
    return Response(formatter(transcript), media_type=f"{CAPTION_FORMATS[caption_format]}; charset=utf-8",
                    headers={"dg-request-id": rid, "content-disposition": f'inline; filename="transcript.{suffix}"'})


def _is_json(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def _receive_url(request: Request[Any, Any, Any], dest: Path, server: Server) -> Spooled:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "JSON body is too large.")
    try:
        url = json.loads(body).get("url")
    except (ValueError, AttributeError, RecursionError):
        raise ApiError(400, "Bad Request", BAD_JSON) from None
    if not isinstance(url, str) or not url:
        raise bad_request("Bad Request: the JSON body must have a url.")
    return await fetch_url(url, dest, server.max_bytes, server.settings.request_timeout, server.allowed_hosts)


async def transcribe_spooled(request: Request[Any, Any, Any], server: Server, source: Path, params: ListenRequest,
                      model_name: str) -> Transcript:
    def job(transcriber: Transcriber, cancel: threading.Event) -> Transcript:
        audio = decode_file(source, mono=not params.transcribe.keeps_channels, name="the request's audio",
                            raw=params.raw, max_seconds=server.settings.max_audio_minutes * 60)
        options = dataclasses.replace(params.transcribe, model=model_name)
        return transcriber.transcribe(audio, options, cancel=cancel)

    await server.loaded.wait()
    if server.load_error is not None:
        raise ApiError(503, "SERVICE_UNAVAILABLE", "The server's model failed to load; see its log.")
    try:
        async with server.admission.worker(BATCH) as transcriber:
            return await _run_cancellable(request, server, lambda cancel: job(transcriber, cancel))
    except Overloaded as exc:
        raise too_many(exc.retry_after) from None


async def _run_cancellable(request: Request[Any, Any, Any], server: Server,
                           job: Callable[[threading.Event], Transcript]) -> Transcript:
    """Run ``job`` on a transcription thread; stop it when the client disconnects, the timeout
    passes or this handler is cancelled (shutdown), and hold the worker until it has stopped."""
    timeout = server.settings.request_timeout
    work = asyncio.ensure_future(run_stoppable(server.jobs, job))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({work, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        if gone in done:
            raise ClientGone
        raise ApiError(504, "GATEWAY_TIMEOUT", f"Transcription took longer than {timeout:g} s.")
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
            await asyncio.shield(asyncio.wait({work}))  # the engine stops within a token


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
