"""``whisper-api batch`` on the task queue: the submitter's side, the worker's task body, the queue's state.

Each input's task has an id made from the SHA-256 of its audio and the request, so the same input
sent again (a rerun after the submitter was stopped) is the same task. The submitter copies the
input into ``spool_dir/batch/<task id>`` and marks the task sent in Redis before sending it; a
rerun sends nothing for a task still marked (it is queued or running) or whose result waits
already, and waits for that result instead. A worker leaves each result (the formats rendered, or
why the input failed) in Redis under the task's id for a week, and does nothing for a task whose
result is there (a task taken up again after a worker died just after finishing). The submitter
writes the results as they come, then removes the result, the mark and the spooled audio; a
failed input is thereby free to be tried again by the next run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from whisper_api.batch import (
    BatchInputError,
    BatchItem,
    BatchRequest,
    Outcome,
    digest,
    download,
    render,
)
from whisper_api.digests import file_sha256
from whisper_api.server.admission import CALLBACK_JOB
from whisper_api.server.queue import (
    BATCH_TASK,
    QUEUE,
    REQUESTS_QUEUE,
    RESULT_SECONDS,
    QueueUnavailable,
    celery_app,
    queue_depth,
    replies,
)
from whisper_api.server.workers import Workers
from whisper_api.settings import Settings

BATCH_FOLDER = "batch"
RESULT_PREFIX, SENT_PREFIX = "whisper-api:batch:", "whisper-api:batch-sent:"
FIRST_POLL, LAST_POLL = 0.1, 1.0
"""Seconds between looks for finished results: short while they come, longer while none do."""
POLL_KEYS = 500
"""Results asked for in one round trip."""
STALLED_SECONDS = 60.0
"""With no result for this long, the submitter says what it waits for."""
INSPECT_SECONDS = 2.0
UNAVAILABLE = (KombuError, RedisError, OSError)


def spool_folder(settings: Settings) -> Path:
    return settings.spool_dir / BATCH_FOLDER


def result_key(task_id: str) -> str:
    return RESULT_PREFIX + task_id


async def transcribe_batch_file(workers: Workers, audio: Path, request: BatchRequest) -> dict[str, Any]:
    """A worker's run of one input: its results by format, and the audio's duration."""
    transcript = await workers.transcribe(audio, request.options(), None, CALLBACK_JOB)
    return {"texts": render(transcript, request.formats), "seconds": transcript.duration}


@dataclass(frozen=True)
class Submitted:
    item: BatchItem
    audio: Path
    """The spooled copy, removed once the result is written."""


class QueuedBatch:
    """A batch run by the task queue's workers (``whisper-api worker`` on any machine)."""

    def __init__(self, settings: Settings) -> None:
        self.app, self.redis = celery_app(settings), replies(settings)
        self.spool = spool_folder(settings)

    def run(self, items: Sequence[BatchItem], request: BatchRequest, queued: Callable[[BatchItem], None],
            stalled: Callable[[int, int], None]) -> Iterator[Outcome]:
        """Send every input (``queued`` is told of each), then yield the outcomes as workers finish;
        ``stalled`` hears how many results are awaited and how many tasks wait, when none comes for a while."""
        self.spool.mkdir(parents=True, exist_ok=True)
        waiting: dict[str, list[Submitted]] = {}  # inputs with the same contents share one task
        try:
            for item in items:
                try:
                    task_id, audio = self._spooled(item, request)
                except BatchInputError as exc:
                    yield Outcome(item, error=str(exc))
                    continue
                if task_id not in waiting:
                    self._send(task_id, audio, request)
                waiting.setdefault(task_id, []).append(Submitted(item, audio))
                queued(item)
            yield from self._results(waiting, stalled)
        except UNAVAILABLE as exc:
            raise QueueUnavailable(f"the task queue cannot be reached ({exc}); run the command again "
                                   "to go on where it stopped") from None

    def _spooled(self, item: BatchItem, request: BatchRequest) -> tuple[str, Path]:
        """The input's task id and its copy in the spool folder (kept from an earlier run)."""
        with tempfile.TemporaryDirectory(dir=self.spool, prefix=".incoming-") as scratch:
            try:
                source = download(item.source, Path(scratch)) if item.is_url else Path(item.source)
                task_id = digest(f"{file_sha256(source)}\n{json.dumps(request.to_json(), sort_keys=True)}".encode())
                spooled = self.spool / f"{task_id}{source.suffix.lower()[:10]}"
                if not spooled.exists():
                    partial = Path(scratch) / "copy"
                    shutil.copyfile(source, partial)
                    partial.replace(spooled)
            except OSError as exc:
                raise BatchInputError(exc.strerror or str(exc)) from None
        return task_id, spooled

    def _send(self, task_id: str, audio: Path, request: BatchRequest) -> None:
        stored = self.redis.get(result_key(task_id))
        if stored is not None and "error" not in json.loads(stored):
            return  # finished after an earlier run stopped: fetched below
        if stored is not None:  # an earlier run's failure, never reported: try again
            self.redis.delete(result_key(task_id), SENT_PREFIX + task_id)
        if not self.redis.set(SENT_PREFIX + task_id, 1, nx=True, ex=RESULT_SECONDS):
            return  # queued or running since an earlier run
        try:
            self.app.send_task(BATCH_TASK, args=[audio.name, request.to_json()], task_id=task_id)
        except BaseException:
            self.redis.delete(SENT_PREFIX + task_id)
            raise

    def _results(self, waiting: dict[str, list[Submitted]], stalled: Callable[[int, int], None]) -> Iterator[Outcome]:
        wait, heard = FIRST_POLL, time.monotonic()
        while waiting:
            found = False
            pending = list(waiting)
            for first in range(0, len(pending), POLL_KEYS):
                ids = pending[first:first + POLL_KEYS]
                for task_id, stored in zip(ids, self.redis.mget([result_key(task_id) for task_id in ids]), strict=True):
                    if stored is not None:
                        found = True
                        yield from self._finished(task_id, json.loads(stored), waiting.pop(task_id))
            if found:
                wait, heard = FIRST_POLL, time.monotonic()
                continue
            if time.monotonic() - heard >= STALLED_SECONDS:
                stalled(len(waiting), queue_depth(self.app, QUEUE))
                heard = time.monotonic()
            time.sleep(wait)
            wait = min(wait * 2, LAST_POLL)

    def _finished(self, task_id: str, result: dict[str, Any], inputs: list[Submitted]) -> Iterator[Outcome]:
        for submitted in inputs:
            if "error" in result:
                yield Outcome(submitted.item, error=str(result["error"]["message"]))
            else:
                yield Outcome(submitted.item, dict(result["texts"]), float(result["seconds"]))
        for submitted in inputs:  # written by now (the caller writes each outcome before asking for more)
            submitted.audio.unlink(missing_ok=True)
        self.redis.delete(result_key(task_id), SENT_PREFIX + task_id)


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
    except UNAVAILABLE as exc:
        raise QueueUnavailable(f"could not reach the task queue: {exc}") from None
    return QueueState(queued, {name: len(tasks) for name, tasks in sorted(active.items())})
