"""``whisper-api serve``: the Deepgram-compatible server (Litestar on uvicorn)."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Annotated

import typer

from whisper_api.cli.console import info, warn
from whisper_api.cli.flags import flag
from whisper_api.errors import WhisperApiError, missing_extra
from whisper_api.models import ModelStore
from whisper_api.settings import engine_slots, load_settings, redact


def _check_port_free(host: str, port: int) -> None:
    """Bind and release the address, so a busy port is one clear line and exit code 1, at once."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = "another program is listening there" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise WhisperApiError(f"cannot listen on {host}:{port}: {reason}; choose another with --port") from None


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", min=1, max=65535, help="TCP port (default 7860).")]
    = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Default model; Deepgram model names map to it.")]
    = None,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="native (default) or cli.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1,
                                                help="Transcriptions at once, each with its own model copy.")] = None,
    no_auth: Annotated[bool | None, flag("--no-auth", help="Accept requests without a key (development).")]
    = None,
    remote_workers: Annotated[bool | None, flag(
        "--remote-workers", help="Send requests to the task queue's workers and wait (needs broker_url).")] = None,
) -> None:
    """Start the Deepgram-compatible server: POST and WebSocket /v1/listen, /v1/models, /v1/auth/grant."""
    try:
        import uvicorn

        from whisper_api.server.app import create_app
    except ImportError:
        raise missing_extra("the server", "server") from None
    settings = load_settings({"host": host, "port": port, "model": model, "engine": engine, "workers": workers,
                              "no_auth": no_auth, "remote_workers": remote_workers})
    ModelStore(settings.models_dir).resolve(settings.model)  # a missing model stops us here, not at first request
    _check_port_free(settings.host, settings.port)  # before loading anything or saying "serving"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    auth = "OFF (--no-auth): anyone who can reach the port can use it" if settings.no_auth else (
        f"API keys from {app.state.server.store.display_url}")
    if settings.no_auth:
        warn("authentication is off: every request is accepted without a key")
    _, crowded = engine_slots(settings)
    if crowded:
        warn(crowded)
    engines = (f"requests: the task queue's workers on {redact(settings.broker_url)}" if settings.remote_workers
               else f"engine: {settings.engine}  workers: {settings.workers}")
    info(f"whisper-api serving on http://{settings.host}:{settings.port}  model: {settings.model}  {engines}  "
         f"auth: {auth}")
    # wsproto: uvicorn's default WebSocket implementation logs a spurious error after every refused
    # handshake (an HTTP 401 before the upgrade); this one handles refusals cleanly.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="info",
                timeout_graceful_shutdown=10, ws="wsproto")
