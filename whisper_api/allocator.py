"""Freed audio buffers go back to the system (glibc), so memory stays flat on long recordings.

glibc serves a large allocation from its own mapping and unmaps it when freed, but after the first
such free it raises its threshold to that size (up to 32 MB): from then on, buffers of a few
megabytes come from the heap, where freed space stays with the process. A long recording is
decoded a piece at a time (vad/gate.py), each piece allocating and freeing megabytes of samples and
spectrogram; with the moving threshold a 15-minute file kept 37 MB more resident
(docs/benchmarks.md, "A long file"). Fixing the threshold at its default keeps large buffers mapped.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

M_MMAP_THRESHOLD = -3
"""glibc's mallopt parameter number (malloc.h)."""
DEFAULT_MMAP_THRESHOLD = 128 * 1024


@cache
def return_freed_buffers() -> None:
    """What ``MALLOC_MMAP_THRESHOLD_=131072`` does, unless the environment says otherwise; nothing where
    the C library has no ``mallopt`` (macOS, musl, Windows)."""
    if os.name != "posix" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, DEFAULT_MMAP_THRESHOLD)
