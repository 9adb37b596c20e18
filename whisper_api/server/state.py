"""What the server holds while it runs: settings, workers, the database, limits, readiness."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from litestar.params import SkipValidation

from whisper_api.core import Transcriber
from whisper_api.errors import WhisperApiError
from whisper_api.jobs.store import Job, JobStore
from whisper_api.keys import KeyStore
from whisper_api.models import ModelStore
from whisper_api.models.identity import ModelRecord, record
from whisper_api.server.admission import Admission
from whisper_api.server.auth import Authenticator, load_secret
from whisper_api.server.callbacks import JobResult, JobRunner
from whisper_api.server.fetch import AllowList
from whisper_api.server.limits import KeyLimiter
from whisper_api.server.metrics import Metrics
from whisper_api.settings import Settings
from whisper_api.store.db import Database

logger = logging.getLogger("whisper_api.server")


@dataclass
class ServerState:
    settings: Settings
    database: Database
    store: KeyStore | None
    auth: Authenticator
    admission: Admission[Transcriber]
    transcribers: list[Transcriber]
    models: ModelStore
    allowed_hosts: AllowList
    limiter: KeyLimiter
    metrics: Metrics
    engine_threads: ThreadPoolExecutor = field(default_factory=ThreadPoolExecutor)
    """Threads for transcription only, so long jobs never starve auth checks and DNS look-ups."""
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once loading finished, well or not (then load_error says why)."""
    load_error: str | None = None
    job_runner: JobRunner = field(init=False)

    def __post_init__(self) -> None:
        self.metrics.watch(lambda: self.admission.waiting, lambda: self.admission.running,
                           lambda: self.job_runner.pending)

    @classmethod
    def create(cls, settings: Settings, transcribe_job: Callable[[ServerState, Job, Path], Awaitable[JobResult]]
               ) -> ServerState:
        """The state, with ``transcribe_job`` doing a callback job's work (the listen route's, later)."""
        database = Database(settings.database_url)  # callback jobs need it even without authentication
        store = None if settings.no_auth else KeyStore(database)
        transcribers = [Transcriber(settings) for _ in range(settings.workers)]
        metrics = Metrics()
        state = cls(settings, database, store, Authenticator(store, load_secret(settings.home)),
                    Admission(transcribers, settings.queue_size, metrics.waited), transcribers,
                    ModelStore(settings.models_dir), AllowList.parse(settings.allowed_hosts),
                    KeyLimiter(settings.rate_limit_storage, store, settings.max_streams), metrics,
                    ThreadPoolExecutor(settings.workers, thread_name_prefix="transcribe"))
        state.job_runner = JobRunner(JobStore(database), settings, functools.partial(transcribe_job, state),
                                     state.record_usage, state.allowed_hosts, metrics)
        return state

    @property
    def max_bytes(self) -> int:
        return self.settings.max_upload_mb * 1_000_000

    async def record_usage(self, key_id: str | None, audio_seconds: float, request_id: str) -> None:
        """Count a finished transcription for its key; a failure is logged (the work is done anyway)."""
        if key_id is None or self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.record_usage, key_id, audio_seconds)
        except WhisperApiError as exc:
            logger.error("could not record usage for request %s: %s", request_id, exc)

    def model(self, name: str) -> ModelRecord:
        return record(name, self.models)

    async def load_models(self) -> None:
        """Load the default model into every worker, off the event loop; readiness follows."""
        try:
            path = self.models.resolve(self.settings.model)
            for transcriber in self.transcribers:
                started = time.monotonic()
                await asyncio.to_thread(transcriber.engine.preload, path)
                self.metrics.model_load.observe(time.monotonic() - started)
        except Exception as exc:  # reported by /readyz and the log; requests get 503
            self.load_error = str(exc)
            logger.error("cannot load model %s: %s", self.settings.model, exc)
            return
        finally:
            self.loaded.set()
        logger.info("model %s loaded in %d worker(s)", self.settings.model, len(self.transcribers))

    def close(self) -> None:
        self.engine_threads.shutdown(wait=True, cancel_futures=True)
        for transcriber in self.transcribers:
            transcriber.close()
        self.database.close()


Server = SkipValidation[ServerState]
"""How handlers receive the state: injected as is (Litestar would otherwise try to validate it)."""
