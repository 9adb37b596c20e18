"""whisper.cpp's log, routed into Python logging and readable per thread.

whisper.cpp reports two things only through its log: why a model failed to load (the
binding cannot expose the NULL context it gets back) and the probability of an
auto-detected language. A thread that wants them opens a ``capture()``; the log callback
runs on the thread that called into whisper.cpp, so captures never mix.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import _pywhispercpp as pw

LEVEL_ERROR = 4  # ggml_log_level
logger = logging.getLogger("whisper_api.whispercpp")
_local = threading.local()
_installed = False
_DETECTED = re.compile(r"auto-detected language: (\w+) \(p = ([0-9.]+)\)")


def _route(level: int, text: str) -> None:
    lines: list[tuple[int, str]] | None = getattr(_local, "lines", None)
    if lines is not None:
        lines.append((level, text))
    # Diagnostics only: failures reach callers as exceptions built from the captured lines.
    logger.debug(text.rstrip())


def install() -> None:
    """Route whisper.cpp's log through Python (once per process)."""
    global _installed  # noqa: PLW0603 - one process-wide C callback
    if not _installed:
        pw.whisper_log_set(_route)
        # The C library logs while tearing down after the interpreter is gone: detach first.
        atexit.register(pw.whisper_log_set, None)
        _installed = True


@contextmanager
def capture() -> Iterator[list[tuple[int, str]]]:
    """Collect (level, text) of every line whisper.cpp logs on this thread inside the block."""
    previous = getattr(_local, "lines", None)
    lines: list[tuple[int, str]] = []
    _local.lines = lines
    try:
        yield lines
    finally:
        _local.lines = previous


def errors(lines: list[tuple[int, str]]) -> list[str]:
    return [text.strip() for level, text in lines if level == LEVEL_ERROR and text.strip()]


def loaded_no_weights(lines: list[tuple[int, str]]) -> bool:
    """Whether whisper.cpp loaded a model file without a single weight: it then only warns, "assuming
    empty model for testing", and would transcribe with uninitialised weights."""
    return any("no tensors loaded" in text for _, text in lines)


def detected_language_probability(texts: Iterable[str]) -> float | None:
    """The probability whisper.cpp logged for the language it auto-detected (whisper-cli logs it too)."""
    for text in texts:
        match = _DETECTED.search(text)
        if match:
            return float(match.group(2))
    return None
