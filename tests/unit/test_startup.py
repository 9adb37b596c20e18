"""``whisper-api --version`` and ``--help`` start in a fraction of a second: they import the CLI and
nothing heavy. Counted in imported modules, not in seconds, so a busy machine cannot fail it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "_pywhispercpp", "soxr", "scipy", "sqlalchemy", "sqlmodel", "litestar", "uvicorn", "httpx",
         "whisper_api.core", "whisper_api.server", "whisper_api.keys")
"""The engine, audio, database and server stacks: loaded by the commands that use them, when they run."""
MAX_MODULES = 600
"""Python, typer and rich's help rendering are about 540 (the engine stack adds about 150 more)."""

RUN_CLI = """
import json, os, sys
from whisper_api.cli.app import main
sys.argv = ["whisper-api", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
with open(os.environ["MODULES_FILE"], "w") as out:
    json.dump(sorted(sys.modules), out)
"""


@pytest.mark.parametrize("arguments", [["--version"], ["--help"], ["transcribe", "--help"], ["live", "--help"],
                                       ["batch", "--help"], ["nosuch-command"]])
def test_the_cli_starts_without_the_heavy_stacks(arguments: list[str], tmp_path: Path) -> None:
    listing = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", RUN_CLI, *arguments], capture_output=True, timeout=60, check=True,
                   env={**os.environ, "MODULES_FILE": str(listing)})
    modules = json.loads(listing.read_text())
    loaded = [name for name in HEAVY if name in modules]
    assert loaded == [], f"{arguments} imported {loaded}"
    assert len(modules) < MAX_MODULES
