"""Terminal output shared by the commands: stderr for progress and messages, stdout for results."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

Result = TypeVar("Result")
INTERRUPT_CHECK_SECONDS = 0.2

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
"""Messages are never wrapped mid-sentence: a log or a pipe gets each one on one line."""
stdout = Console(highlight=False)


def progress_bar(*, download: bool = False) -> Progress:
    """A progress display on stderr; silent when stderr is not a terminal (pipelines, logs)."""
    columns = (
        [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        if download
        else [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
              TimeRemainingColumn()]
    )
    return Progress(*columns, console=stderr, disable=not stderr.is_terminal, transient=False)


def result_of(work: Future[Result]) -> Result:
    """The work's result, waited for in short turns: Ctrl-C may be delivered to one of the engine's own
    threads, and then it reaches Python only when the main thread next runs, which a plain wait
    would not do until the work had ended."""
    while True:
        try:
            return work.result(timeout=INTERRUPT_CHECK_SECONDS)
        except TimeoutError:
            continue


def warn(message: str) -> None:
    stderr.print(f"warning: {message}", markup=False)


def info(message: str) -> None:
    stderr.print(message, markup=False)


def failed(name: str, error: Exception) -> None:
    """One line for an input that failed (the others go on); the line names the input once."""
    message = str(error)
    stderr.print(f"error: {message if message.startswith(f'{name}:') else f'{name}: {message}'}", markup=False)
