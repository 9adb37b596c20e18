"""Transcribing a spooled audio file on a worker, for requests and for callback jobs alike.

The job waits for a worker (admission control) and runs on a transcription thread; if the
client disconnects, the timeout passes or the caller is cancelled (shutdown), the engine is
told to stop and the worker is free again at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Request

from whisper_api.audio import RawFormat, decode_file
from whisper_api.core import Transcriber
from whisper_api.options import TranscribeOptions
from whisper_api.server.admission import BATCH, CALLBACK_JOB, Overloaded
from whisper_api.server.errors import ApiError, ClientGone, too_many
from whisper_api.server.stoppable import run_stoppable
from whisper_api.transcript import Transcript

if TYPE_CHECKING:
    from whisper_api.server.state import ServerState

async def transcribe_spooled(request: Request[Any, Any, Any], server: ServerState, source: Path,
                             options: TranscribeOptions, raw: RawFormat | None, model_name: str) -> Transcript:
    """Transcribe for a waiting HTTP client. If it disconnects, the work stops wherever it is: a request
    still waiting for a worker leaves the queue at once, a running one stops within a token."""
    work = asyncio.ensure_future(transcribe_file(server, source, options, raw, model_name, BATCH))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        raise ClientGone
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
            await asyncio.shield(asyncio.wait({work}))  # the worker is held until the engine let go
        if not work.cancelled():
            work.exception()  # retrieved: a stopped job's error is no news to anyone


async def transcribe_file(server: ServerState, source: Path, options: TranscribeOptions, raw: RawFormat | None,
                          model_name: str, priority: int = BATCH) -> Transcript:
    def job(transcriber: Transcriber, cancel: threading.Event) -> Transcript:
        audio = decode_file(source, mono=not options.keeps_channels, name="the request's audio",
                            raw=raw, max_seconds=server.settings.max_audio_minutes * 60, cancel=cancel)
        return transcriber.transcribe(audio, dataclasses.replace(options, model=model_name), cancel=cancel)

    await server.loaded.wait()
    if server.load_error is not None:
        raise ApiError(503, "SERVICE_UNAVAILABLE", "The server's model failed to load; see its log.")
    try:
        async with server.admission.worker(priority) as transcriber:
            started = time.monotonic()
            transcript = await _run_within_timeout(server, lambda cancel: job(transcriber, cancel))
    except Overloaded as exc:
        raise too_many(exc.retry_after) from None
    kind = "callback" if priority == CALLBACK_JOB else "rest"
    server.metrics.transcribed(kind, transcript.duration, time.monotonic() - started)
    return transcript


async def _run_within_timeout(server: ServerState, job: Callable[[threading.Event], Transcript]) -> Transcript:
    """Run ``job`` on a transcription thread; stop it when the timeout passes or this coroutine is
    cancelled, and hold the worker until it has stopped."""
    timeout = server.settings.request_timeout
    try:
        return await asyncio.wait_for(run_stoppable(server.engine_threads, job), timeout)
    except asyncio.TimeoutError:
        raise ApiError(504, "GATEWAY_TIMEOUT", f"Transcription took longer than {timeout:g} s.") from None


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
