"""Deepgram's ``callback=`` mode: accept now, transcribe in the background, deliver the result.

The audio is kept in ``spool_dir/<request id>/`` and the job in the database before the client
hears its request id. A job runs queued -> running -> delivering -> done (or failed), and every
step is written down first, so a restarted server takes its unfinished jobs up again: it
transcribes what was queued or running and goes on delivering what was transcribed, keeping the
attempt count. With a task queue (queue.py) workers run the jobs instead, from the same steps. A
transcription error is delivered too, as Deepgram's error body, so the callback always hears how
its job ended. ``GET /v1/listen/jobs/{id}``
(deepgram/job_status.py) answers polling clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from whisper_api.errors import JobNotFoundError, WhisperApiError
from whisper_api.jobs.store import DELIVERING, DONE, FAILED, QUEUED, RUNNING, Job, JobStore
from whisper_api.keys import utc_now
from whisper_api.server.delivery import ATTEMPT_TIMEOUT, Delivery, attempt, retry_delay
from whisper_api.server.errors import JSON_TYPE, ApiError, from_core, too_many
from whisper_api.server.fetch import AllowList, check_url
from whisper_api.server.metrics import Metrics
from whisper_api.server.spool import Spooled
from whisper_api.settings import Settings

logger = logging.getLogger("whisper_api.server")
METHODS = ("POST", "PUT")
FULL_RETRY_SECONDS = 60
"""Retry-After when max_jobs are pending: jobs take minutes, and their deliveries longer."""
KEEP_SECONDS = 60.0
"""How often finished jobs past their retention are forgotten, and jobs that stopped are taken up."""
HOLD_MARGIN_SECONDS = 5.0
UNEXPECTED = "Unexpected server error; see the server's log."


@dataclass(frozen=True)
class Callback:
    url: str
    method: str


@dataclass(frozen=True)
class JobResult:
    body: bytes
    media_type: str
    audio_seconds: float


TranscribeJob = Callable[[Job, Path], Awaitable[JobResult]]
"""What a job's request asks for, on its audio: the server transcribes it as it would have at once."""
RecordUsage = Callable[[str | None, float, str], Awaitable[None]]


async def callback_of(query: Mapping[str, Sequence[str]], allowed: AllowList) -> Callback | None:
    """The request's ``callback`` and ``callback_method``, checked like a ``url`` source; None without one."""
    url = (query.get("callback") or [""])[-1]
    if not url:
        return None
    method = (query.get("callback_method") or ["POST"])[-1].upper()
    if method not in METHODS:
        raise ApiError(400, "INVALID_QUERY_PARAMETER", "Bad Request: callback_method must be POST or PUT.")
    await check_url(url, allowed, "callback")
    return Callback(url, method)


class JobQueue(Protocol):
    """Where a server hands its jobs to workers (server/queue.py); without one, it runs them itself."""

    stale_after: float
    """Seconds after which a started job nobody has changed has lost its task (its worker and the
    broker's copy both gone): it is sent again."""

    async def enqueue(self, job_id: str) -> None: ...


class JobRunner:
    """Runs callback jobs on this server, or, with a ``queue``, hands them to workers, which call
    ``run_queued`` and ``deliver_queued`` (several servers share jobs only that way)."""

    def __init__(self, store: JobStore, settings: Settings, transcribe: TranscribeJob, record_usage: RecordUsage,
                 allowed_hosts: AllowList, metrics: Metrics, queue: JobQueue | None = None) -> None:
        self.store, self.settings, self.allowed_hosts, self.metrics = store, settings, allowed_hosts, metrics
        self._transcribe_job, self._record_usage = transcribe, record_usage
        self.queue = queue
        self.root = settings.spool_dir
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._receiving = 0
        self._keeper: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Jobs running here, and uploads on their way to becoming jobs."""
        return len(self._tasks) + self._receiving

    @asynccontextmanager
    async def job_dir(self, request_id: str) -> AsyncIterator[Path]:
        """A private folder for a new job's audio, removed again if the job is not submitted."""
        if self.pending >= self.settings.max_jobs:
            raise too_many(FULL_RETRY_SECONDS)
        folder = self.root / request_id
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(mode=0o700)
        self._receiving += 1
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            self._receiving -= 1

    async def submit(self, request_id: str, key_id: str | None, query: Mapping[str, Sequence[str]],
                     audio: Spooled, callback: Callback) -> None:
        job = await asyncio.to_thread(self.store.add, request_id, key_id, json.dumps(dict(query)), str(audio.path),
                                      audio.sha256, callback.url, callback.method)
        if self.queue is None:
            self._start(job)
            return
        try:
            await self.queue.enqueue(job.id)
        except WhisperApiError as exc:  # the client hears it and sends again; nothing is left behind
            logger.error("callback job %s not queued: %s", job.id, exc)
            await asyncio.to_thread(self.store.update, job.id, status=FAILED, error="The task queue was unreachable.")
            raise ApiError(503, "SERVICE_UNAVAILABLE", "The task queue is unreachable; try again shortly.") from None

    async def start(self) -> None:
        """Take up this server's unfinished jobs, and go on doing so from time to time (jobs stopped by
        a database fault), forgetting finished jobs past their retention; with a queue, send again
        the started jobs whose tasks were lost instead."""
        if self.queue is None and not self.settings.database_url.startswith("sqlite"):
            logger.warning("callback jobs: several servers sharing this database must share a task queue "
                           "(broker_url) to run each job once; see docs/scaling.md")
        self._keeper = asyncio.create_task(self._keep())

    async def stop(self) -> None:
        """Stop every job where it stands; its state is in the database for the next start."""
        tasks = [*([self._keeper] if self._keeper else []), *self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep(self) -> None:
        retention = timedelta(hours=self.settings.job_retention_hours)
        while True:
            try:
                pruned = await asyncio.to_thread(self.store.prune, utc_now() - retention)
                taken = await (self._take_up() if self.queue is None else self._send_again(self.queue))
                if pruned or taken:
                    logger.info("callback jobs: %d taken up again, %d finished ones pruned", taken, pruned)
            except WhisperApiError as exc:  # the database or the broker is away: try again next round
                logger.error("callback jobs: %s", exc)
            await asyncio.sleep(KEEP_SECONDS)

    async def _take_up(self) -> int:
        unfinished = await asyncio.to_thread(self.store.unfinished, self.root)
        return sum(self._start(job) for job in unfinished)

    async def _send_again(self, queue: JobQueue) -> int:
        # Queued jobs may wait long behind others and are left alone; a job's runs claim each step.
        stale = await asyncio.to_thread(self.store.stale, utc_now() - timedelta(seconds=queue.stale_after))
        started = [job for job in stale if job.status != QUEUED]
        for job in started:
            await asyncio.to_thread(self.store.update, job.id)  # not sent again at the next round
            await queue.enqueue(job.id)
        return len(started)

    def _start(self, job: Job) -> bool:
        """Run the job here, unless it already runs (a new job may be found unfinished before its
        submission has started it); True when it was started."""
        if job.id in self._tasks:
            return False
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))
        return True

    async def _run(self, job: Job) -> None:
        try:
            stored: Job | None = job
            if job.status in (QUEUED, RUNNING):
                stored = await self._transcribe(job)
            while stored is not None:
                if stored.next_attempt_at is not None:
                    await asyncio.sleep(max(0.0, (stored.next_attempt_at - utc_now()).total_seconds()))
                stored = await self._deliver_once(stored)
        except WhisperApiError as exc:  # the database failed: the next start takes the job up again
            logger.error("callback job %s stopped: %s", job.id, exc)
        except Exception:
            logger.exception("callback job %s failed unexpectedly", job.id)
            with contextlib.suppress(WhisperApiError):
                await asyncio.to_thread(self.store.update, job.id, status=FAILED, error=UNEXPECTED)

    async def run_queued(self, job_id: str) -> float | None:
        """A worker's run of a queued job: transcribe it, unless a run before (a worker that died after
        storing the result) did, then make its first delivery attempt. Seconds until the next attempt,
        or None when the job is finished (or another run of it holds it)."""
        job = await self._find(job_id)
        if job is not None and job.status in (QUEUED, RUNNING):
            job = await self._transcribe(job)
        return await self._attempt(job)

    async def deliver_queued(self, job_id: str) -> float | None:
        """A worker's delivery attempt: the seconds until the next one, or None when the job is finished."""
        return await self._attempt(await self._find(job_id))

    async def _find(self, job_id: str) -> Job | None:
        try:
            return await asyncio.to_thread(self.store.get, job_id)
        except JobNotFoundError:  # pruned: finished long ago
            return None

    async def _attempt(self, job: Job | None) -> float | None:
        if job is None or job.status != DELIVERING:
            return None
        left = await self._deliver_once(job)
        if left is None:
            return None
        return max(0.0, (left.next_attempt_at - utc_now()).total_seconds()) if left.next_attempt_at else 0.0

    async def _transcribe(self, job: Job) -> Job | None:
        """The job with its result stored, ready for delivery; None when another run stored it first."""
        if not await asyncio.to_thread(self.store.advance, job.id, (QUEUED, RUNNING), status=RUNNING):
            return None
        audio = Path(job.audio_path)
        try:
            if not await asyncio.to_thread(audio.exists):
                raise ApiError(500, "INTERNAL_SERVER_ERROR", "The job's audio was lost before it was transcribed.")
            result = await self._transcribe_job(job, audio)
            outcome: dict[str, Any] = {"result": result.body.decode(), "result_type": result.media_type}
            seconds = result.audio_seconds
        except Exception as exc:  # the callback hears of every failure, as a client would
            error = _api_error(exc, job.id)
            body = {"err_code": error.err_code, "err_msg": error.err_msg, "request_id": job.id}
            outcome, seconds = {"result": json.dumps(body), "result_type": JSON_TYPE, "error": error.err_msg}, 0.0
        if not await asyncio.to_thread(self.store.advance, job.id, (QUEUED, RUNNING), status=DELIVERING, **outcome):
            return None  # another run of this job stored its result (and counted it) first
        stored = await asyncio.to_thread(self.store.get, job.id)
        await asyncio.to_thread(shutil.rmtree, audio.parent, True)  # only once the result is safely stored
        if seconds:  # counted once stored: a job cut short before is transcribed (and counted) again
            await self._record_usage(stored.key_id, seconds, stored.id)
        return stored

    async def _deliver_once(self, job: Job) -> Job | None:
        """One delivery attempt, when it is due and no other run of the job is making it; the job,
        with its next attempt's time, while it is unfinished; None once it is finished."""
        attempts = self.settings.callback_attempts
        if job.attempts >= attempts:
            await self._give_up(job)
            return None
        now = utc_now()
        held = await asyncio.to_thread(self.store.claim_attempt, job.id, job.attempts, now,
                                       now + timedelta(seconds=ATTEMPT_TIMEOUT + HOLD_MARGIN_SECONDS))
        if not held:  # not due yet, or another run is making this attempt, or the job has finished
            current = await asyncio.to_thread(self.store.get, job.id)
            return current if current.status == DELIVERING else None
        headers = {"content-type": job.result_type or JSON_TYPE, "dg-request-id": job.id}
        if job.key_id is not None:
            headers["dg-token"] = job.key_id  # Deepgram's header: the key's id, never its secret
        delivery = Delivery(job.callback, job.callback_method, (job.result or "").encode(), headers)
        try:
            why = await asyncio.wait_for(attempt(delivery, self.allowed_hosts), ATTEMPT_TIMEOUT)
        except asyncio.TimeoutError:
            why = f"the callback did not answer within {ATTEMPT_TIMEOUT:g} s"
        self.metrics.callbacks.labels("refused" if why else "delivered").inc()
        if why is None:
            await asyncio.to_thread(self.store.update, job.id, status=FAILED if job.error else DONE,
                                    attempts=job.attempts + 1, next_attempt_at=None, delivery_error=None)
            return None
        failed = job.attempts + 1
        logger.warning("callback for job %s failed (attempt %d of %d): %s", job.id, failed, attempts, why)
        retry_at = utc_now() + timedelta(seconds=retry_delay(self.settings.callback_retry_seconds, failed))
        job = await asyncio.to_thread(self.store.update, job.id, attempts=failed, next_attempt_at=retry_at,
                                      delivery_error=why)
        if failed < attempts:
            return job
        await self._give_up(job)
        return None

    async def _give_up(self, job: Job) -> None:
        await asyncio.to_thread(self.store.update, job.id, status=FAILED, next_attempt_at=None,
                                error=f"the callback failed {job.attempts} times; last: {job.delivery_error}")


def _api_error(exc: Exception, job_id: str) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WhisperApiError):
        return from_core(exc)
    logger.error("callback job %s failed unexpectedly", job_id, exc_info=exc)
    return ApiError(500, "INTERNAL_SERVER_ERROR", "Transcription failed on the server.")
