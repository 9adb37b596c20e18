"""The ``whisper-api`` command: sub-commands, ``--version``, and one error-to-exit-code mapping."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import whisper_api
from whisper_api.cli import batch, config, diarize, engine, keys, live, models, serve, transcribe, worker
from whisper_api.cli.flags import flag
from whisper_api.errors import WhisperApiError

app = typer.Typer(
    name="whisper-api",
    help="Self-hosted speech-to-text on whisper.cpp.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_show_locals=False,  # never print local variables (paths, keys) in a traceback
)
app.command("transcribe")(transcribe.transcribe)
app.command("diarize")(diarize.diarize)
app.command("live")(live.live)
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("config")(config.show_config)
app.add_typer(models.app, name="models")
app.add_typer(engine.app, name="engine")
app.add_typer(keys.app, name="keys")
app.add_typer(batch.app, name="batch")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"whisper-api {whisper_api.__version__}")  # read from the metadata only here
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, flag("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Self-hosted speech-to-text on whisper.cpp."""


def main() -> None:
    """Entry point: a WhisperApiError becomes one line on stderr and exit code 1."""
    try:
        app()
    except WhisperApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
