"""``whisper-api worker``'s process: a Celery worker running callback jobs on this machine's engine.

It holds the same parts as a server (the workers with their loaded models, the job table, usage
counting; see state.py), on an event loop of its own in a background thread; Celery's threads
hand each task to that loop and wait. As many tasks run at once as the engine has slots: a
worker takes no task it cannot start at once, so the broker's timeout counts running time only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from celery import Task

from whisper_api.audio import RawFormat
from whisper_api.batch import BatchRequest
from whisper_api.errors import InvalidOptionError, WhisperApiError
from whisper_api.server.admission import BATCH
from whisper_api.server.batch import result_key, spool_folder, transcribe_batch_file
from whisper_api.server.deepgram.listen import transcribe_callback_job
from whisper_api.server.errors import ApiError, from_core
from whisper_api.server.queue import (
    BATCH_TASK,
    DELIVER_TASK,
    QUEUE,
    REQUEST_TASK,
    REQUESTS_QUEUE,
    RESULT_SECONDS,
    TRANSCRIBE_TASK,
    celery_app,
    longest_wait,
    replies,
)
from whisper_api.server.remote import error_data, options_from, requests_folder, transcript_data
from whisper_api.server.state import ServerState
from whisper_api.server.workers import Workers
from whisper_api.settings import Settings, engine_slots, is_redis_url

Result = TypeVar("Result")
QUEUES = {"requests": REQUESTS_QUEUE, "jobs": QUEUE}
"""``--queues`` names: servers' synchronous requests; callback jobs and batch files."""


def queue_names(given: str) -> list[str]:
    """``--queues``' comma-separated names, checked."""
    names = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown or not names:
        raise InvalidOptionError(f"unknown queue {', '.join(unknown) or '(none)'}; choose from {', '.join(QUEUES)}")
    return names
logger = logging.getLogger("whisper_api.worker")


class Loop:
    """An event loop on its own thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="whisper-api-worker-loop", daemon=True).start()

    def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()


async def run_request(workers: Workers, audio: Path, options: dict[str, Any], raw: dict[str, Any] | None
                      ) -> dict[str, Any]:
    """A server's request (``serve --remote-workers``)."""
    transcript = await workers.transcribe(audio, options_from(options), RawFormat(**raw) if raw else None, BATCH)
    return {"transcript": transcript_data(transcript)}


def _answer(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The work's answer, or the error a server would give for it; a fault of ours is logged and answered
    as a 500, so nobody waits for an answer that never comes."""
    try:
        return work()
    except WhisperApiError as exc:
        return {"error": error_data(from_core(exc))}
    except ApiError as exc:
        return {"error": error_data(exc)}
    except Exception as exc:
        logger.exception("a task failed")
        failure = ApiError(500, "INTERNAL_SERVER_ERROR",
                           f"Internal Server Error: the worker failed ({type(exc).__name__}).")
        return {"error": error_data(failure)}


def run_worker(settings: Settings, queues: list[str], log_level: str = "INFO") -> None:
    """Load the model, then take tasks from ``queues`` (``QUEUES``' names) until stopped (SIGTERM: after
    the running ones)."""
    settings = dataclasses.replace(settings, remote_workers=False)  # a worker transcribes what it takes
    state = ServerState.create(settings, transcribe_callback_job)
    loop = Loop()
    loop.run(state.workers.load())
    app = celery_app(settings)
    retried = {"autoretry_for": (WhisperApiError,), "retry_backoff": True,
               "retry_backoff_max": round(longest_wait(settings)), "max_retries": None}

    @app.task(name=TRANSCRIBE_TASK, **retried)  # type: ignore[untyped-decorator]
    def transcribe_job(job_id: str) -> None:
        # The first delivery attempt follows at once, in this task; later ones are tasks of their own.
        wait = loop.run(state.job_runner.run_queued(job_id))
        if wait is not None:
            app.send_task(DELIVER_TASK, args=[job_id], countdown=wait)

    @app.task(name=DELIVER_TASK, bind=True, **retried)  # type: ignore[untyped-decorator]
    def deliver_job(task: Task, job_id: str) -> None:
        wait = loop.run(state.job_runner.deliver_queued(job_id))
        if wait is not None:
            raise task.retry(countdown=wait)

    answers = replies(settings) if is_redis_url(settings.broker_url) else None

    @app.task(name=REQUEST_TASK)  # type: ignore[untyped-decorator]
    def transcribe_request(audio_name: str, options: dict[str, Any], raw: dict[str, Any] | None, reply: str) -> None:
        audio = requests_folder(settings) / Path(audio_name).name
        try:
            answer = _answer(lambda: loop.run(run_request(state.workers, audio, options, raw)))
        finally:
            audio.unlink(missing_ok=True)
        assert answers is not None  # servers send requests only over Redis
        # Pushed for the server's blocking pop; gone after the request timeout if nobody waits any more.
        with answers.pipeline() as pipe:
            pipe.rpush(reply, json.dumps(answer))
            pipe.expire(reply, settings.request_timeout)
            pipe.execute()

    @app.task(name=BATCH_TASK, bind=True)  # type: ignore[untyped-decorator]
    def batch_file(task: Task, audio_name: str, request: dict[str, Any]) -> None:
        assert answers is not None  # batches are sent only over Redis
        key = result_key(task.request.id)
        if answers.exists(key):  # taken up again after a worker died having finished it: done
            return
        audio = spool_folder(settings) / Path(audio_name).name
        result = _answer(lambda: loop.run(transcribe_batch_file(state.workers, audio, BatchRequest.from_json(request))))
        answers.set(key, json.dumps(result), ex=RESULT_SECONDS)

    slots, _ = engine_slots(settings)
    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={slots}",
                         f"--queues={','.join(QUEUES[name] for name in queues)}",
                         f"--loglevel={log_level}", "--task-events", "--without-mingle", "--without-gossip"])
    finally:
        state.close()
