"""Admission control: a fixed number of workers, a bounded queue, and priorities.

Waiters are served by priority, then in arrival order: a live stream's final result first, then
its interim results, then batch requests, then callback jobs (nobody is waiting on the line for
those), so a queue of uploads never holds up live audio for more than the job already running.
Only batch requests count against the queue limit; a batch request
beyond it gets 429 with a Retry-After of about when the next place in the queue frees (the recent
mean job time divided by the workers, as one finished job frees one place), at most a minute:
the SDKs cap their wait there, and a client told to come back in 20 minutes just gives up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

Worker = TypeVar("Worker")
INITIAL_JOB_SECONDS = 10.0
SMOOTHING = 0.2
MAX_RETRY_AFTER = 60
LIVE_FINAL, LIVE_INTERIM, BATCH, CALLBACK_JOB = 0, 1, 2, 3


class Overloaded(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"overloaded; retry after {retry_after} s")
        self.retry_after = retry_after


class Admission(Generic[Worker]):
    """Hands out workers (e.g. transcribers, each with its own loaded model) one job at a time."""

    def __init__(self, workers: list[Worker], queue_size: int,
                 on_wait: Callable[[int, float], None] | None = None) -> None:
        self._idle = list(workers)
        self._on_wait = on_wait
        """Told each job's priority and how long it waited for its worker."""
        self._waiters: list[tuple[int, int, asyncio.Future[Worker]]] = []
        self._arrivals = itertools.count()
        self.workers = len(workers)
        self.queue_size = queue_size
        self.waiting = 0
        self.waiting_batch = 0
        self.running = 0
        self.mean_job_seconds = INITIAL_JOB_SECONDS

    def retry_after(self) -> int:
        return min(MAX_RETRY_AFTER, max(1, math.ceil(self.mean_job_seconds / self.workers)))

    @asynccontextmanager
    async def worker(self, priority: int = BATCH) -> AsyncIterator[Worker]:
        if priority == BATCH and not self._idle and self.waiting_batch >= self.queue_size:
            raise Overloaded(self.retry_after())
        arrived = time.monotonic()
        worker = await self._acquire(priority)
        self.running += 1
        started = time.monotonic()
        if self._on_wait is not None:
            self._on_wait(priority, started - arrived)
        try:
            yield worker
        finally:
            self.running -= 1
            self._release(worker)
            if priority >= BATCH:
                elapsed = time.monotonic() - started
                self.mean_job_seconds += SMOOTHING * (elapsed - self.mean_job_seconds)

    async def _acquire(self, priority: int) -> Worker:
        while self._waiters and self._waiters[0][2].done():  # waiters that left
            heapq.heappop(self._waiters)
        if self._idle and not self._waiters:
            return self._idle.pop()
        turn: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), turn))
        self.waiting += 1
        self.waiting_batch += priority == BATCH
        try:
            return await turn
        except asyncio.CancelledError:  # the client left while waiting
            if turn.done() and not turn.cancelled():
                self._release(turn.result())  # handed a worker just as it was cancelled: pass it on
            raise
        finally:
            self.waiting -= 1
            self.waiting_batch -= priority == BATCH

    def _release(self, worker: Worker) -> None:
        while self._waiters:
            _, _, turn = heapq.heappop(self._waiters)
            if not turn.done():  # skips waiters that were cancelled
                turn.set_result(worker)
                return
        self._idle.append(worker)
