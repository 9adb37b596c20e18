"""Admission control: a fixed number of workers and a bounded queue in front of them.

A request beyond both gets 429 with a Retry-After from the backlog (jobs ahead divided by the
workers, times the recent mean job time), so clients back off by about the right amount.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

Worker = TypeVar("Worker")
INITIAL_JOB_SECONDS = 10.0
SMOOTHING = 0.2


class Overloaded(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"overloaded; retry after {retry_after} s")
        self.retry_after = retry_after


class Admission(Generic[Worker]):
    """Hands out workers (e.g. transcribers, each with its own loaded model) one job at a time."""

    def __init__(self, workers: list[Worker], queue_size: int) -> None:
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        for worker in workers:
            self._idle.put_nowait(worker)
        self.workers = len(workers)
        self.queue_size = queue_size
        self.waiting = 0
        self.running = 0
        self.mean_job_seconds = INITIAL_JOB_SECONDS

    def retry_after(self) -> int:
        ahead = self.waiting + self.running
        return max(1, math.ceil(ahead / self.workers * self.mean_job_seconds))

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        if self._idle.empty() and self.waiting >= self.queue_size:
            raise Overloaded(self.retry_after())
        self.waiting += 1
        try:
            worker = await self._idle.get()  # a cancelled wait (client gone) just leaves the queue
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.monotonic()
        try:
            yield worker
        finally:
            self.running -= 1
            self._idle.put_nowait(worker)
            elapsed = time.monotonic() - started
            self.mean_job_seconds += SMOOTHING * (elapsed - self.mean_job_seconds)
