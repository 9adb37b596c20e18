"""The server's transcription workers: each a Transcriber with its model loaded, handed out by priority.

A job waits for a worker (admission control) and runs on a transcription thread; if the client
disconnects, the timeout passes or the caller is cancelled (shutdown), the engine is told to stop
and the worker is free again at once. Requests, callback jobs and live streams all decode here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from litestar import Request

from whisper_api.audio import RawFormat, decode_file
from whisper_api.core import Transcriber
from whisper_api.models import ModelStore
from whisper_api.models.identity import ModelRecord, record
from whisper_api.options import TranscribeOptions
from whisper_api.server.admission import BATCH, CALLBACK_JOB, LIVE_FINAL, LIVE_INTERIM, Admission, Overloaded
from whisper_api.server.errors import ApiError, ClientGone, too_many
from whisper_api.server.metrics import Metrics
from whisper_api.server.stoppable import run_stoppable
from whisper_api.settings import Settings, engine_slots
from whisper_api.streaming.channel import DecodeJob
from whisper_api.streaming.decoders import StreamDecoder
from whisper_api.streaming.events import StreamOptions
from whisper_api.streaming.live import Emit, LiveStream, Work
from whisper_api.transcript import Transcript, Word

if TYPE_CHECKING:
    from whisper_api.server.remote import RemoteWorkers  # the cluster extra: imported only when used

Result = TypeVar("Result")
logger = logging.getLogger("whisper_api.server")
NOT_LOADED = "The server's model failed to load; see its log."


class Workers:
    """The transcribers, the queue in front of them and the threads they run on."""

    def __init__(self, settings: Settings, models: ModelStore, metrics: Metrics,
                 remote: RemoteWorkers | None = None) -> None:
        self.remote = remote
        """Where synchronous requests go instead of this server's transcribers (``--remote-workers``)."""
        self.default_model = settings.model
        self.models = models
        self.timeout = settings.request_timeout
        self.max_audio_seconds = settings.max_audio_minutes * 60
        self.metrics = metrics
        slots, _ = engine_slots(settings)  # never more decodes at once than the cores can run
        self.transcribers = [Transcriber(settings) for _ in range(slots)]
        self.admission = Admission(self.transcribers, settings.queue_size, metrics.waited)
        self.threads = ThreadPoolExecutor(slots, thread_name_prefix="transcribe")
        """Threads for transcription only, so long jobs never starve auth checks and DNS look-ups."""
        self.loaded = asyncio.Event()
        """Set once loading finished, well or not (then load_error says why)."""
        self.load_error: str | None = None

    async def load(self) -> None:
        """Load the default model into every worker, off the event loop; readiness follows. A server whose
        requests go to remote workers loads nothing up front (a live stream loads the model it needs)."""
        try:
            if self.remote is not None:
                return
            path = self.models.resolve(self.default_model)
            for transcriber in self.transcribers:
                started = time.monotonic()
                await asyncio.to_thread(transcriber.engine.preload, path)
                self.metrics.model_load.observe(time.monotonic() - started)
        except Exception as exc:  # reported by /readyz and the log; requests get 503
            self.load_error = str(exc)
            logger.error("cannot load model %s: %s", self.default_model, exc)
            return
        finally:
            self.loaded.set()
        logger.info("model %s loaded in %d worker(s)", self.default_model, len(self.transcribers))

    async def ready(self) -> None:
        """Wait for the model to load; 503 if it failed."""
        await self.loaded.wait()
        if self.load_error is not None:
            raise ApiError(503, "SERVICE_UNAVAILABLE", NOT_LOADED)

    async def model(self, name: str | None) -> ModelRecord:
        """What the API reports about the model ``name`` (None: the default): a stat and a header read, so
        off the event loop."""
        return await asyncio.to_thread(record, name or self.default_model, self.models)

    async def transcribe_for(self, request: Request[Any, Any, Any], source: Path, options: TranscribeOptions,
                             raw: RawFormat | None) -> Transcript:
        """Transcribe for a waiting HTTP client. If it disconnects, the work stops wherever it is: a request
        still waiting for a worker leaves the queue at once, a running one stops within a token."""
        work = asyncio.ensure_future(self.transcribe(source, options, raw, BATCH))
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

    async def transcribe(self, source: Path, options: TranscribeOptions, raw: RawFormat | None,
                         priority: int = BATCH) -> Transcript:
        """The audio file ``source``, decoded and transcribed on a worker within the request timeout."""
        if self.remote is not None and priority == BATCH:
            return await self.remote.transcribe(source, options, raw)
        kind = "callback" if priority == CALLBACK_JOB else "rest"

        def job(transcriber: Transcriber, cancel: threading.Event) -> Transcript:
            started = time.monotonic()
            audio = decode_file(source, mono=not options.keeps_channels, name="the request's audio",
                                raw=raw, max_seconds=self.max_audio_seconds, cancel=cancel)
            transcript = transcriber.transcribe(audio, options, cancel=cancel)
            self.metrics.transcribed(kind, transcript.duration, time.monotonic() - started)
            return transcript

        await self.ready()
        try:
            return await self.run(priority, job, self.timeout)
        except TimeoutError:
            raise ApiError(504, "GATEWAY_TIMEOUT", f"Transcription took longer than {self.timeout:g} s.") from None

    async def run(self, priority: int, job: Callable[[Transcriber, threading.Event], Result],
                  timeout: float | None = None) -> Result:
        """``job`` on a worker's thread once a worker is free (429 when the batch queue is full). Past
        ``timeout`` seconds of running, or when this coroutine is cancelled, the job is told to stop and
        the worker is held until it has."""
        try:
            async with self.admission.worker(priority) as transcriber:
                return await asyncio.wait_for(run_stoppable(self.threads, lambda stop: job(transcriber, stop)),
                                              timeout)
        except Overloaded as exc:
            raise too_many(exc.retry_after) from None

    def stream(self, options: StreamOptions, decoder: StreamDecoder, emit: Emit) -> LiveStream:
        """A live stream decoding on these workers, its finals ahead of its interims, both ahead of batch
        requests (see ``Transcriber.stream``)."""
        async def run(job: DecodeJob, work: Work) -> tuple[Word, ...]:
            return await self.run(LIVE_FINAL if job.is_final else LIVE_INTERIM, work)

        return self.transcribers[0].stream(options, decoder, emit, run)

    def close(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        for transcriber in self.transcribers:
            transcriber.close()


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
