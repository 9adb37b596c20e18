"""Run the real command line as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``whisper-api`` (as ``python -m whisper_api``, the same entry point) and capture its output."""
    return subprocess.run([sys.executable, "-m", "whisper_api", *args], input=stdin, capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=240, check=False)
