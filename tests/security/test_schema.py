"""The served OpenAPI schema describes the real API: schemathesis, with every check, finds no 5xx and
no response, status, header or method that the schema does not declare."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import run_server
from whisper_api.keys import KeyStore

HERE = Path(__file__).parent


def test_schemathesis_finds_no_server_error_and_no_nonconformance(tmp_path: Path, micro_model: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install '.[test]')")
    (tmp_path / "models").mkdir()
    shutil.copyfile(micro_model, tmp_path / "models" / "ggml-micro.bin")
    key = KeyStore(f"sqlite:///{tmp_path / 'whisper-api.db'}").create("fuzz", ("listen", "admin"))[1].text
    with run_server(tmp_path, "--model", "micro", env={"WHISPER_API_THREADS": "1"}) as server:
        # A fixed seed and a bounded count keep the run reproducible and within a minute or two.
        result = subprocess.run(
            [schemathesis, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{server.url}/schema/openapi.json",
             "--checks", "all", "--phases", "examples,coverage,fuzzing", "--max-examples", "40", "--seed", "21",
             "--request-timeout", "60", "-H", f"Authorization: Token {key}"],
            capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.security.schema_hooks",
                 "PYTHONPATH": str(HERE.parents[1])})
        log = server.log_text()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " 500 " not in log and "Traceback" not in log
