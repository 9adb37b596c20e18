"""The ``/v1/listen`` WebSocket: Deepgram's live transcription protocol.

The handshake authenticates (``Authorization`` header, or the browser's ``token, KEY``
subprotocol) and checks the parameters before the upgrade, so failures are plain HTTP errors
in Deepgram's JSON shape. Then three tasks share the connection: the receiver (audio into the
decoder and the live session, control messages), the session's decode loop (results out),
and a watchdog (10 s without a message, or transcription falling behind). Whichever ends
first decides how the stream closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from whisper_api.errors import AudioDecodeError, WhisperApiError
from whisper_api.formats.deepgram import ResponseMeta
from whisper_api.formats.deepgram_live import closing_metadata, error_message, event_message
from whisper_api.keys import utc_now
from whisper_api.server.auth import Authenticator, Caller, websocket_credentials
from whisper_api.server.callbacks import RecordUsage
from whisper_api.server.deepgram.model_names import whisper_name
from whisper_api.server.deepgram.params import StreamRequest, parse_stream
from whisper_api.server.deps import (
    SELF,
    TRANSCRIBE,
    Auth,
    Config,
    Limiter,
    Meters,
    Pool,
    Usage,
    access,
    admitted_caller,
)
from whisper_api.server.errors import ApiError, from_core, header_text
from whisper_api.server.limits import KeyLimiter, StreamSlot
from whisper_api.server.metrics import Metrics, StreamTimer
from whisper_api.server.workers import Workers
from whisper_api.streaming.decoders import open_decoder
from whisper_api.streaming.events import StreamEvent, StreamResult
from whisper_api.streaming.live import LiveStream

IDLE_TIMEOUT = 10.0
MAX_LAG = 30.0
"""Seconds a final may wait for a decode before the stream is told the server cannot keep up."""
WATCH_EVERY = 0.25
NET_0001 = "NET-0001: no audio data or text message received within the timeout window."
DATA_0000 = "DATA-0000: the payload cannot be decoded as audio."
OVERLOADED = "OVERLOADED: transcription fell too far behind the audio; the server is too busy."
SERVER_ERROR = "NET-0000: the server failed to transcribe the stream."
MAX_ECHO = 256
"""Characters of a client's faulty message echoed back in the error: enough to recognise it."""
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_ERROR, CLOSE_TRY_LATER = 1000, 1008, 1011, 1013
logger = logging.getLogger("whisper_api.server")
access_log = logging.getLogger("whisper_api.server.access")


@dataclass(frozen=True)
class LiveParts:
    """What a live stream uses of the server."""

    workers: Workers
    auth: Authenticator
    limiter: KeyLimiter
    metrics: Metrics
    usage: RecordUsage
    timeout: float
    """Seconds the stream's last results may take once the client closed it."""


@websocket("/v1/listen", opt=access(SELF))  # authenticated in the handshake
async def live_listen(socket: WebSocket[Any, Any, Any], workers: Pool, auth: Auth, limiter: Limiter,
                      metrics: Meters, usage: Usage, settings: Config) -> None:
    started, request_id = time.monotonic(), str(uuid.uuid4())
    parts = LiveParts(workers, auth, limiter, metrics, usage, settings.request_timeout)
    try:
        connection = await _handshake(socket, parts, request_id)
    except (ApiError, WhisperApiError) as exc:
        error = exc if isinstance(exc, ApiError) else from_core(exc)
        await _deny(socket, request_id, error)
        access_log.info("%s WS /v1/listen %d %.3fs", request_id, error.status, time.monotonic() - started)
        parts.metrics.requests.labels("/v1/listen", "WS", str(error.status)).inc()
        parts.metrics.errors.labels(error.err_code).inc()
        return
    parts.metrics.requests.labels("/v1/listen", "WS", "101").inc()
    parts.metrics.active_streams.inc()
    try:
        code = await connection.serve()
    finally:
        parts.metrics.active_streams.dec()
    access_log.info("%s WS /v1/listen close %s %.3fs", request_id, code, time.monotonic() - started)


async def _handshake(socket: WebSocket[Any, Any, Any], parts: LiveParts, request_id: str) -> LiveConnection:
    authorization, subprotocol = websocket_credentials(socket.headers.get("authorization"),
                                                       list(socket.scope.get("subprotocols") or []))
    caller = await admitted_caller(parts.auth, parts.limiter, authorization, TRANSCRIBE)
    request = parse_stream(socket.query_params.dict())
    slot = await parts.limiter.open_stream(caller)
    try:
        return await _open(socket, parts, request_id, request, caller, slot, subprotocol)
    except BaseException:
        await slot.release()
        raise


async def _open(socket: WebSocket[Any, Any, Any], parts: LiveParts, request_id: str, request: StreamRequest,
                caller: Caller, slot: StreamSlot, subprotocol: str | None) -> LiveConnection:
    workers = parts.workers
    model_name = whisper_name(request.listen.model, workers.default_model, workers.models)
    await workers.ready()
    model = await workers.model(model_name)
    decoder = await asyncio.to_thread(open_decoder, request.encoding, request.sample_rate, request.channels,
                                      not request.options.multichannel)
    meta = ResponseMeta(request_id, "incomplete", utc_now(), model.uuid, model.name, model.version)
    connection = LiveConnection(socket, parts, request, meta, caller, slot)
    options = dataclasses.replace(request.options, transcribe=dataclasses.replace(request.options.transcribe,
                                                                                  model=model_name))
    try:  # a missing speaker model refuses the stream here, before the upgrade
        connection.stream = await asyncio.to_thread(workers.stream, options, decoder, connection.emit)
        await socket.accept(subprotocols=subprotocol, headers={"dg-request-id": request_id})
    except BaseException:
        await asyncio.to_thread(decoder.close)
        raise
    return connection


async def _deny(socket: WebSocket[Any, Any, Any], request_id: str, error: ApiError) -> None:
    """Refuse the upgrade with an HTTP response, where the server supports it (uvicorn does)."""
    if "websocket.http.response" not in (socket.scope.get("extensions") or {}):
        await socket.close(code=CLOSE_POLICY, reason=error.err_msg[:120])
        return
    body = json.dumps({"err_code": error.err_code, "err_msg": error.err_msg, "request_id": request_id}).encode()
    headers = [(b"content-type", b"application/json"), (b"dg-request-id", request_id.encode()),
               (b"dg-error", header_text(error.err_msg).encode()),
               *((name.lower().encode(), value.encode("latin-1")) for name, value in error.headers.items())]
    await socket.send({"type": "websocket.http.response.start", "status": error.status, "headers": headers})
    await socket.send({"type": "websocket.http.response.body", "body": body, "more_body": False})


class LiveConnection:
    stream: LiveStream
    """Set by the handshake, once the connection can receive its events."""

    def __init__(self, socket: WebSocket[Any, Any, Any], parts: LiveParts, request: StreamRequest,
                 meta: ResponseMeta, caller: Caller, slot: StreamSlot) -> None:
        self.socket, self.parts, self.request, self.meta, self.caller = socket, parts, request, meta, caller
        self.slot = slot
        self.last_heard = time.monotonic()
        self.send_lock = asyncio.Lock()
        self.timer = StreamTimer(parts.metrics)

    async def serve(self) -> int:
        """Run the stream to its end; returns the close code."""
        receiver = asyncio.create_task(self._receive())
        watchdog = asyncio.create_task(self._watch())
        runner = asyncio.create_task(self._run())
        try:
            done, _ = await asyncio.wait({receiver, watchdog, runner}, return_when=asyncio.FIRST_COMPLETED)
            ending = next(iter(done)).result()
            for task in (receiver, watchdog):
                task.cancel()
            return await self._end(ending, runner)
        finally:
            for task in (receiver, watchdog, runner):
                task.cancel()
            await asyncio.gather(receiver, watchdog, runner, return_exceptions=True)
            try:  # first: nothing below may keep the key's slot; shielded, as it may ask Redis
                await asyncio.shield(self.slot.release())
            finally:
                try:
                    if self.stream.duration:
                        self.parts.metrics.transcribed("stream", self.stream.duration)
                        await self.parts.usage(self.caller.key_id, self.stream.duration, self.meta.request_id)
                finally:
                    await asyncio.to_thread(self.stream.close)

    async def _end(self, ending: str, runner: asyncio.Task[str]) -> int:
        if ending in ("close", "idle"):
            ending = await self._flush(runner, ending)
        if ending == "close":
            return await self._close(CLOSE_NORMAL, "", metadata=True)
        if ending == "idle":
            return await self._close(CLOSE_ERROR, NET_0001, metadata=True)
        if ending == "bad_audio":
            return await self._close(CLOSE_POLICY, DATA_0000)
        if ending == "overloaded":
            await self._send(error_message("Overloaded", OVERLOADED))
            return await self._close(CLOSE_TRY_LATER, OVERLOADED, metadata=True)
        if ending == "failed":
            return await self._close(CLOSE_ERROR, SERVER_ERROR)
        return 0  # the client went away: nothing more to say

    async def _flush(self, runner: asyncio.Task[str], ending: str) -> str:
        """The rest of the audio and its final results, in order; what ends the stream then."""
        try:
            await self.stream.end()
            outcome = await asyncio.wait_for(asyncio.shield(runner), self.parts.timeout)
        except AudioDecodeError:
            return "bad_audio"
        except (WhisperApiError, TimeoutError) as exc:
            logger.error("stream %s failed: %s", self.meta.request_id, str(exc) or "timed out")
            return "failed"
        return "failed" if outcome == "failed" else ending

    async def _close(self, code: int, reason: str, metadata: bool = False) -> int:
        if metadata:
            await self._send(closing_metadata(self.meta, self.stream.duration, self.stream.channels))
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.socket.close(code=code, reason=reason)
        return code

    async def _receive(self) -> str:
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                return "gone"
            self.last_heard = time.monotonic()
            data, text = message.get("bytes"), message.get("text")
            if isinstance(data, bytes):
                if not data:
                    return "close"  # the pre-2022 way to say CloseStream
                try:
                    await self.stream.feed(data)
                except AudioDecodeError:
                    return "bad_audio"
                self.timer.audio(self.stream.duration)
            elif isinstance(text, str):
                ending = await self._control(text)
                if ending:
                    return ending

    async def _control(self, text: str) -> str | None:
        try:
            message = json.loads(text)
        except ValueError:
            await self._send(error_message("SchemaError", "The message is not valid JSON.", text[:MAX_ECHO]))
            return None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "KeepAlive":
            return None
        if kind == "CloseStream":
            return "close"
        if kind == "Finalize":
            await self.stream.finalize()
            return None
        if kind == "Configure":
            await self._send({"type": "ConfigureFailure", "request_id": self.meta.request_id,
                              "code": "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                              "description": "Key terms are set when the stream opens (keyterm=...)."})
            return None
        await self._send(error_message("SchemaError", f"Unknown message type: {str(kind)[:MAX_ECHO]!r}.",
                                       text[:MAX_ECHO]))
        return None

    async def _watch(self) -> str:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if time.monotonic() - self.last_heard >= IDLE_TIMEOUT:
                return "idle"
            if self.stream.lag > MAX_LAG:
                return "overloaded"

    async def _run(self) -> str:
        try:
            await self.stream.run()
        except WhisperApiError as exc:
            logger.error("stream %s failed: %s", self.meta.request_id, exc)
            return "failed"
        return "close"

    async def emit(self, event: StreamEvent) -> None:
        await self._send(event_message(event, self.request.listen.response, self.meta))
        if isinstance(event, StreamResult) and not event.is_final:
            self.timer.interim()
        elif isinstance(event, StreamResult) and event.words:
            self.timer.final(event.words[-1].end)

    async def _send(self, message: dict[str, Any]) -> None:
        # A client that left is no error here: the receiver sees the disconnect and ends the stream.
        async with self.send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.socket.send_text(json.dumps(message))
