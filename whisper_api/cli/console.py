"""Terminal output shared by the commands: stderr for progress and messages, stdout for results."""

from __future__ import annotations

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


def warn(message: str) -> None:
    stderr.print(f"warning: {message}", markup=False)


def info(message: str) -> None:
    stderr.print(message, markup=False)


def failed(name: str, error: Exception) -> None:
    """One line for an input that failed (the others go on); the line names the input once."""
    message = str(error)
    stderr.print(f"error: {message if message.startswith(f'{name}:') else f'{name}: {message}'}", markup=False)
