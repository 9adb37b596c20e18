"""``whisper-api batch``: transcribe an archive (resumable), here or on the task queue's workers."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from whisper_api.batch import BatchItem, BatchRequest, Outcome, check_formats, expand, is_done, write_results
from whisper_api.cli import speakers as speaker_options
from whisper_api.cli.console import failed, info, result_of, stderr, stdout
from whisper_api.cli.flags import flag
from whisper_api.cli.transcribe import EXIT_INTERRUPTED
from whisper_api.errors import InvalidOptionError, WhisperApiError, missing_extra
from whisper_api.settings import Settings, load_settings, redact

if TYPE_CHECKING:
    from whisper_api.core import Transcriber

app = typer.Typer(help="Transcribe many files at once, resumably: here, or on the task queue's workers.",
                  no_args_is_help=True)


def _items(paths: list[str], from_list: str | None, keep_extension: bool) -> list[BatchItem]:
    listed: list[str] = []
    if from_list == "-":
        listed = sys.stdin.read().splitlines()
    elif from_list is not None:
        listed = Path(from_list).read_text(encoding="utf-8").splitlines()
    items = expand([*paths, *listed], keep_extension)
    if not items:
        raise InvalidOptionError("nothing to transcribe: give files, folders, glob patterns or URLs")
    return items


@app.command("submit")
def submit(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Audio or video files, folders (searched for media), quoted glob patterns, or URLs.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (created).")] = Path(),
    formats: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: json, srt, vtt, txt.")] = "json",
    from_list: Annotated[str | None, typer.Option(
        "--from", help="A file listing inputs, one per line (paths or URLs); - reads standard input.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name or path to a .bin.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Spoken language; default: detect.")]
    = None,
    diarize: Annotated[bool, flag("--diarize", help="Label each word with its speaker.")] = False,
    speakers: speaker_options.Speakers = None,
    keep_extension: Annotated[bool, flag(
        "--keep-extension", help="Name results talk.wav.json, not talk.json (inputs that differ only in it).")]
    = False,
    local: Annotated[bool, flag("--local", help="Transcribe here even when a task queue (broker_url) is set.")]
    = False,
) -> None:
    """Transcribe every input into OUT, skipping those whose results are there already (a rerun resumes)."""
    request = BatchRequest(tuple(check_formats(formats.split(","))), model, language, diarize, speakers)
    items = _items(paths or [], from_list, keep_extension)
    pending = [item for item in items if not is_done(out, item, request.formats)]
    info(f"{len(items)} inputs: {len(items) - len(pending)} done already, {len(pending)} to transcribe")
    if not pending:
        return
    out.mkdir(parents=True, exist_ok=True)
    settings = load_settings({"model": model})
    try:
        if settings.broker_url and not local:
            failures = _on_queue(settings, pending, request, out)
        else:
            failures = _here(settings, pending, request, out)
    except KeyboardInterrupt:
        info("interrupted: the same command goes on where this stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if failures:
        info(f"{failures} of {len(pending)} failed; run the same command again to retry them")
        raise typer.Exit(1)


def _on_queue(settings: Settings, items: list[BatchItem], request: BatchRequest, out: Path) -> int:
    try:
        from whisper_api.server.batch import QueuedBatch
    except ImportError:
        raise missing_extra("the task queue", "cluster") from None
    info(f"sending to the task queue on {redact(settings.broker_url)} (results come back as workers finish)")
    with _BatchProgress(len(items)) as progress:
        outcomes = QueuedBatch(settings).run(items, request, queued=lambda _: progress.queued(), stalled=_stalled)
        return progress.write_all(outcomes, out)


def _stalled(awaited: int, queued: int) -> None:
    info(f"waiting for {awaited} results, {queued} tasks queued (`whisper-api batch status` shows the workers); "
         "Ctrl-C and the same command later go on where this stops")


def _here(settings: Settings, items: list[BatchItem], request: BatchRequest, out: Path) -> int:
    from whisper_api.batch import run_local
    from whisper_api.core import Transcriber  # the engine stack: loaded only when there is work (fast --help)

    cancel = threading.Event()
    with Transcriber(settings) as transcriber, tempfile.TemporaryDirectory(dir=out, prefix=".downloads-") as scratch:
        _prepare(transcriber, settings, request)
        # The work runs on a thread of its own, so Ctrl-C here stops the engine mid-file at once.
        with _BatchProgress(len(items)) as progress, ThreadPoolExecutor(max_workers=1) as pool:
            outcomes = run_local(transcriber, items, request, Path(scratch), progress.file_progress, cancel)
            work = pool.submit(progress.write_all, outcomes, out)
            try:
                return result_of(work)
            except KeyboardInterrupt:
                cancel.set()
                work.exception()  # wait for the engine to let go before leaving
                raise


def _prepare(transcriber: Transcriber, settings: Settings, request: BatchRequest) -> None:
    from whisper_api.cli.transcribe import ensure_model

    ensure_model(transcriber, settings)
    diarize = request.options().diarize
    if diarize is not None:
        speaker_options.ensure_diarization_models(settings, diarize)


class _BatchProgress:
    """A bar of inputs done, the audio they held, the rate in audio hours per hour, and the time left;
    a line per input on stderr (what a log keeps when stderr is no terminal)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.audio_seconds, self.started = total, 0, 0.0, time.monotonic()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[audio]}"), TimeRemainingColumn(), console=stderr,
                            disable=not stderr.is_terminal)
        self.task = self.bar.add_task("transcribing", total=total, audio="")

    def __enter__(self) -> _BatchProgress:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()

    def file_progress(self, item: BatchItem, fraction: float) -> None:
        self.bar.update(self.task, description=f"{item.name} {fraction:.0%}")

    def queued(self) -> None:
        self.bar.update(self.task, description="queued")

    def write_all(self, outcomes: Iterator[Outcome], out: Path) -> int:
        """Write each outcome's results as it comes; the number that failed."""
        failures = 0
        for outcome in outcomes:
            self.done += 1
            if outcome.error is not None:
                failures += 1
                failed(outcome.item.source, WhisperApiError(outcome.error))
            else:
                write_results(out, outcome.item, outcome.texts)
                self.audio_seconds += outcome.seconds
                info(f"[{self.done}/{self.total}] {outcome.item.name}")
            hours = self.audio_seconds / 3600
            rate = self.audio_seconds / max(time.monotonic() - self.started, 1e-3)
            self.bar.update(self.task, description="transcribing", advance=1,
                            audio=f"{hours:.2f} h audio, {rate:.1f} audio-h/h")
        return failures


@app.command("status")
def status() -> None:
    """What waits on the task queue and which workers are running what."""
    settings = load_settings({})
    if not settings.broker_url:
        info("no task queue is set (broker_url): batches run in the process that submits them")
        return
    try:
        from whisper_api.server.batch import queue_state
    except ImportError:
        raise missing_extra("the task queue", "cluster") from None
    state = queue_state(settings)
    stdout.print(f"task queue: {redact(settings.broker_url)}", markup=False)
    stdout.print(f"waiting: {state.queued} tasks", markup=False)
    stdout.print(f"workers: {len(state.running) or 'none answered'}", markup=False)
    for name, running in state.running.items():
        stdout.print(f"  {name}: running {running}", markup=False)
