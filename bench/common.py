"""What the benchmarks share: the reference data folder, real-size random models, a timer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def random_model(dims: str, folder: Path) -> Path:
    """A real-size whisper model (tiny, base, small) with random weights, from ../shared's tool."""
    tool, header = SHARED / "tools" / "random_ggml_model.py", SHARED / "models" / "for-tests-ggml-tiny.bin"
    if not tool.is_file():
        sys.exit(f"needs {tool} (the ../shared folder beside the checkout)")
    out = folder / f"ggml-random-{dims}.bin"
    subprocess.run([sys.executable, str(tool), str(header), str(out), "--dims", dims], check=True)
    return out


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
