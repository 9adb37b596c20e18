"""Running engine work on the transcription threads without losing control of it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

Result = TypeVar("Result")


async def run_stoppable(executor: Executor, job: Callable[[threading.Event], Result]) -> Result:
    """Run ``job(stop)`` on ``executor``. Cancelling this coroutine sets ``stop`` (the engine
    checks it between tokens) and returns only once the job has ended, so whoever holds the
    worker keeps it until whisper.cpp has really let go."""
    stop = threading.Event()
    work = asyncio.get_running_loop().run_in_executor(executor, job, stop)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait({work})
        if not work.cancelled():
            work.exception()  # retrieved, so a cancelled job's error is not logged as never retrieved
        raise
