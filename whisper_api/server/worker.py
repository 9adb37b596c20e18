"""``whisper-api worker``'s process: a Celery worker running callback jobs on this machine's engine.

It holds the same parts as a server (the workers with their loaded models, the job table, usage
counting; see state.py), on an event loop of its own in a background thread; Celery's threads
hand each task to that loop and wait. As many tasks run at once as the engine has slots, plus
as many again for deliveries, which wait on the network, not the cores.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from celery import Task

from whisper_api.errors import WhisperApiError
from whisper_api.server.deepgram.listen import transcribe_callback_job
from whisper_api.server.queue import DELIVER_TASK, TRANSCRIBE_TASK, celery_app
from whisper_api.server.state import ServerState
from whisper_api.settings import Settings, engine_slots

Result = TypeVar("Result")
RETRY_BACKOFF_MAX = 600
"""Seconds: the longest wait before a task that failed on a passing fault (the database away) runs again."""


class Loop:
    """An event loop on its own thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="whisper-api-worker-loop", daemon=True).start()

    def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()


def run_worker(settings: Settings, queues: Sequence[str], log_level: str = "INFO") -> None:
    """Load the model, then take tasks from ``queues`` until stopped (SIGTERM: after the running ones)."""
    state = ServerState.create(settings, transcribe_callback_job)
    loop = Loop()
    loop.run(state.workers.load())
    app = celery_app(settings)
    retried = {"autoretry_for": (WhisperApiError,), "retry_backoff": True, "retry_backoff_max": RETRY_BACKOFF_MAX,
               "max_retries": None}

    @app.task(name=TRANSCRIBE_TASK, **retried)  # type: ignore[untyped-decorator]
    def transcribe_job(job_id: str) -> None:
        # The first delivery attempt follows at once, in this task; later ones are tasks of their own.
        if loop.run(state.job_runner.transcribe_queued(job_id)):
            wait = loop.run(state.job_runner.deliver_queued(job_id))
            if wait is not None:
                app.send_task(DELIVER_TASK, args=[job_id], countdown=wait)

    @app.task(name=DELIVER_TASK, bind=True, **retried)  # type: ignore[untyped-decorator]
    def deliver_job(task: Task, job_id: str) -> None:
        wait = loop.run(state.job_runner.deliver_queued(job_id))
        if wait is not None:
            raise task.retry(countdown=wait)

    slots, _ = engine_slots(settings)
    try:
        app.worker_main(["worker", "--pool=threads", f"--concurrency={2 * slots}", f"--queues={','.join(queues)}",
                         f"--loglevel={log_level}", "--task-events", "--without-mingle", "--without-gossip"])
    finally:
        state.close()
