"""``whisper-api batch`` on the task queue: the submitter's side, the worker's task body, the queue's state.

The submitter copies each input into ``spool_dir/batch`` (named by the SHA-256 of its contents)
and sends a task whose id is a digest of those contents and the request, so sending an input
again (a rerun after the submitter was stopped) names the same task: a worker that finds the
task's result already stored returns it instead of transcribing again, and a submitter that
finds it fetches it without sending anything. Workers return each input's results rendered (the
formatters are pure), through Celery's result store on Redis; the submitter writes them into the
output folder and removes the spooled audio.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.result import AsyncResult
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from whisper_api.batch import (
    BatchInputError,
    BatchItem,
    BatchRequest,
    Outcome,
    digest,
    download,
    file_digest,
    render,
)
from whisper_api.errors import WhisperApiError
from whisper_api.server.admission import CALLBACK_JOB
from whisper_api.server.errors import ApiError
from whisper_api.server.queue import BATCH_TASK, QUEUE, REQUESTS_QUEUE, QueueUnavailable, celery_app, queue_depth
from whisper_api.server.workers import Workers
from whisper_api.settings import Settings

POLL_SECONDS = 0.25
BATCH_FOLDER = "batch"
INSPECT_SECONDS = 2.0


def spool_folder(settings: Settings) -> Path:
    return settings.spool_dir / BATCH_FOLDER


async def transcribe_batch_file(workers: Workers, audio: Path, request: BatchRequest) -> dict[str, Any]:
    """A worker's run of one input: its results by format and duration, or the reason it failed
    (the input's fault: another try would fail the same way)."""
    try:
        transcript = await workers.transcribe(audio, request.options(), None, CALLBACK_JOB)
    except ApiError as exc:
        return {"error": exc.err_msg}
    except WhisperApiError as exc:
        return {"error": str(exc)}
    return {"texts": render(transcript, request.formats), "seconds": transcript.duration}


@dataclass(frozen=True)
class Submitted:
    item: BatchItem
    audio: Path
    """The spooled copy, removed once the result is written."""


class QueuedBatch:
    """A batch run by the task queue's workers (``whisper-api worker`` on any machine)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.broker_url.startswith(("redis://", "rediss://")):
            raise WhisperApiError("batch on the task queue keeps results on Redis: the broker_url must be "
                                  "redis:// or rediss:// (without a broker_url the batch runs here)")
        self.app = celery_app(settings, results=True)
        self.spool = spool_folder(settings)

    def run(self, items: Sequence[BatchItem], request: BatchRequest,
            queued: Callable[[BatchItem], None]) -> Iterator[Outcome]:
        """Send every input (``queued`` is told of each), then yield the outcomes as workers finish."""
        self.spool.mkdir(parents=True, exist_ok=True)
        waiting: dict[str, list[Submitted]] = {}  # inputs with the same contents share one task
        for item in items:
            try:
                audio = self._spooled(item)
            except BatchInputError as exc:
                yield Outcome(item, error=str(exc))
                continue
            task_id = digest(f"{audio.name}\n{json.dumps(request.to_json(), sort_keys=True)}".encode())
            if task_id not in waiting:
                self._send(task_id, audio, request)
            waiting.setdefault(task_id, []).append(Submitted(item, audio))
            queued(item)
        yield from self._results(waiting)

    def _send(self, task_id: str, audio: Path, request: BatchRequest) -> None:
        try:
            if AsyncResult(task_id, app=self.app).state == "SUCCESS":  # a result from an earlier run: nothing to send
                return
            self.app.send_task(BATCH_TASK, args=[audio.name, request.to_json()], task_id=task_id)
        except (KombuError, RedisError, OSError) as exc:
            raise QueueUnavailable(f"the task queue did not take the batch: {exc}") from None

    def _spooled(self, item: BatchItem) -> Path:
        """The input's copy in the spool folder, named by its contents (kept from an earlier run)."""
        with tempfile.TemporaryDirectory(dir=self.spool, prefix=".incoming-") as scratch:
            try:
                source = download(item.source, Path(scratch)) if item.is_url else Path(item.source)
                spooled = self.spool / f"{file_digest(source)}{source.suffix.lower()[:10]}"
                if not spooled.exists():
                    partial = Path(scratch) / "copy"
                    shutil.copyfile(source, partial)
                    partial.replace(spooled)
            except OSError as exc:
                raise BatchInputError(exc.strerror or str(exc)) from None
        return spooled

    def _results(self, waiting: dict[str, list[Submitted]]) -> Iterator[Outcome]:
        for task_id, meta in self.app.backend.get_many(set(waiting), interval=POLL_SECONDS, no_ack=True):
            for submitted in waiting.pop(task_id):
                yield _outcome(submitted.item, meta)
                submitted.audio.unlink(missing_ok=True)


def _outcome(item: BatchItem, meta: dict[str, Any]) -> Outcome:
    result = meta.get("result")
    if meta.get("status") != "SUCCESS" or not isinstance(result, dict):
        return Outcome(item, error=f"the worker failed ({meta.get('status')}: {result})")
    if "error" in result:
        return Outcome(item, error=str(result["error"]))
    return Outcome(item, dict(result["texts"]), float(result["seconds"]))


@dataclass(frozen=True)
class QueueState:
    queued: int
    """Tasks waiting for a worker."""
    running: dict[str, int]
    """Workers that answered, and how many tasks each is running."""


def queue_state(settings: Settings) -> QueueState:
    app = celery_app(settings)
    try:
        queued = queue_depth(app, REQUESTS_QUEUE) + queue_depth(app, QUEUE)
        active = app.control.inspect(timeout=INSPECT_SECONDS).active() or {}
    except (KombuError, RedisError, OSError) as exc:
        raise QueueUnavailable(f"could not reach the task queue: {exc}") from None
    return QueueState(queued, {name: len(tasks) for name, tasks in sorted(active.items())})
