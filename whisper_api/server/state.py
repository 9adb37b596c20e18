"""What the server holds while it runs: settings, workers, the database, limits, readiness."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from whisper_api.errors import WhisperApiError, missing_extra
from whisper_api.jobs.store import Job, JobStore
from whisper_api.keys import KeyStore
from whisper_api.models import ModelStore
from whisper_api.server.auth import Authenticator, signing_secret
from whisper_api.server.callbacks import JobQueue, JobResult, JobRunner
from whisper_api.server.fetch import AllowList
from whisper_api.server.limits import KeyLimiter
from whisper_api.server.metrics import Metrics
from whisper_api.server.workers import Workers
from whisper_api.settings import Settings
from whisper_api.store.db import Database

if TYPE_CHECKING:
    from whisper_api.server.remote import RemoteWorkers

logger = logging.getLogger("whisper_api.server")


@dataclass
class ServerState:
    """The parts handlers ask for by name (see deps.py); the app holds this to start and stop them."""

    settings: Settings
    database: Database
    store: KeyStore | None
    auth: Authenticator
    workers: Workers
    allowed_hosts: AllowList
    limiter: KeyLimiter
    metrics: Metrics
    job_runner: JobRunner = field(init=False)

    def __post_init__(self) -> None:
        admission = self.workers.admission
        self.metrics.watch(lambda: admission.waiting, lambda: admission.running, lambda: self.job_runner.pending)

    @classmethod
    def create(cls, settings: Settings, transcribe_job: Callable[[Workers, Job, Path], Awaitable[JobResult]]
               ) -> ServerState:
        """The state, with ``transcribe_job`` doing a callback job's work (the listen route's, later)."""
        database = Database(settings.database_url)  # callback jobs need it even without authentication
        store = None if settings.no_auth else KeyStore(database)
        metrics = Metrics()
        workers = Workers(settings, ModelStore(settings.models_dir), metrics, _remote(settings))
        auth = Authenticator(store, signing_secret(settings.signing_secret, settings.home))
        state = cls(settings, database, store, auth, workers, AllowList.parse(settings.allowed_hosts),
                    KeyLimiter(settings.rate_limit_storage, store, settings.max_streams), metrics)
        state.job_runner = JobRunner(JobStore(database), settings, functools.partial(transcribe_job, workers),
                                     state.record_usage, state.allowed_hosts, metrics, _queue(settings))
        return state

    async def record_usage(self, key_id: str | None, audio_seconds: float, request_id: str) -> None:
        """Count a finished transcription for its key; a failure is logged (the work is done anyway)."""
        if key_id is None or self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.record_usage, key_id, audio_seconds)
        except WhisperApiError as exc:
            logger.error("could not record usage for request %s: %s", request_id, exc)

    def close(self) -> None:
        self.workers.close()
        self.database.close()



def _remote(settings: Settings) -> RemoteWorkers | None:
    """Where synchronous requests go with ``remote_workers`` (``whisper-api worker`` runs them)."""
    if not settings.remote_workers:
        return None
    try:
        from whisper_api.server.remote import RemoteWorkers
    except ImportError:
        raise missing_extra("remote_workers", "cluster") from None
    return RemoteWorkers(settings)


def _queue(settings: Settings) -> JobQueue | None:
    """The task queue callback jobs go to, when one is set (``whisper-api worker`` runs them)."""
    if not settings.broker_url:
        return None
    try:
        from whisper_api.server.queue import CeleryJobQueue
    except ImportError:
        raise missing_extra("broker_url", "cluster") from None
    return CeleryJobQueue(settings)
