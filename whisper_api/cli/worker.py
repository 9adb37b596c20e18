"""``whisper-api worker``: run callback jobs from the task queue (Celery) on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from whisper_api.cli.console import info, warn
from whisper_api.errors import WhisperApiError, missing_extra
from whisper_api.models import ModelStore
from whisper_api.settings import engine_slots, load_settings, redact


def worker(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Default model (what requests that name none "
                                              "get); loaded once.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="native (default) or cli.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1,
                                                help="Transcriptions at once, each with its own model copy.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", "-t", min=1, help="CPU threads per transcription.")]
    = None,
    queues: Annotated[str, typer.Option(
        "--queues", "-Q", help="What to take, in this order: requests (servers' synchronous requests), jobs "
        "(callback jobs and batch files); comma-separated.")] = "requests,jobs",
) -> None:
    """Run callback jobs from the task queue (the broker_url setting) on this machine, until stopped."""
    settings = load_settings({"model": model, "engine": engine, "workers": workers, "threads": threads})
    if not settings.broker_url:
        raise WhisperApiError("a worker takes its jobs from a task queue: set WHISPER_API_BROKER_URL "
                              "(e.g. redis://localhost:6379/0), the same as the servers'")
    try:
        from whisper_api.server.worker import queue_names, run_worker
    except ImportError:
        raise missing_extra("the worker", "cluster") from None
    taken = queue_names(queues)
    ModelStore(settings.models_dir).resolve(settings.model)  # a missing model stops us here, not at the first job
    _, crowded = engine_slots(settings)
    if crowded:
        warn(crowded)
    info(f"whisper-api worker on {redact(settings.broker_url)}  model: {settings.model}  engine: {settings.engine}  "
         f"workers: {settings.workers}  threads: {settings.threads}  queues: {','.join(taken)}  "
         f"spool: {settings.spool_dir}")
    if settings.database_url.startswith("sqlite"):
        warn(f"the job database is {redact(settings.database_url)}: a worker on another machine than the "
             "servers needs the database they share (database_url, e.g. PostgreSQL)")
    run_worker(settings, taken)
