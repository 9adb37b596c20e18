"""The documentation: the site builds without warnings, and nothing users can call is undocumented."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from whisper_api.cli.app import app
from whisper_api.settings import SPECS, load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = "\n".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [f"{prefix}{command.name}" for command in group.registered_commands if command.name]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        names += _commands(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


@pytest.mark.parametrize("command", _commands(app))
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"whisper-api {command}" in DOCS, command


@pytest.mark.parametrize("setting", [spec.env_var for spec in SPECS])
def test_every_setting_is_documented(setting: str) -> None:
    assert setting in DOCS


def _shape(path: str) -> str:
    """A path with every parameter as ``{}``: ``/v1/models/{model_id:str}`` and ``/v1/models/{id}`` match."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_http_endpoint_is_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_api.server.app import create_app

    monkeypatch.setenv("WHISPER_API_HOME", str(tmp_path))
    # Paths in backticks, alone or after a method: `/healthz`, `GET /v1/projects/{id}/keys[?status=...]`.
    documented = {_shape(match) for match in re.findall(r"`(?:[A-Z]+ )?(/[^`\s?\[]*)", DOCS)}
    for route in create_app(load_settings()).routes:
        if route.path.startswith("/schema/{"):
            continue  # the OpenAPI plugin's catch-all behind /schema/openapi.json
        assert _shape(route.path) in documented, route.path


def test_the_site_builds_without_warnings(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("mkdocs is not installed (pip install '.[docs]')")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "diarization" / "index.html").is_file()
