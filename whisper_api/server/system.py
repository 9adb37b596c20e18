"""What is not an API: health and readiness, Prometheus metrics, and the page at ``/`` (upload a file or
talk to the server from a browser: plain HTML, CSS and JS served from the package, no CDN)."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib.resources import files
from typing import Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from prometheus_client import generate_latest

from whisper_api.models.store import display_name
from whisper_api.server.deps import PUBLIC, Config, Db, Meters, Pool, access
from whisper_api.server.errors import ApiError
from whisper_api.server.headers import UTF8, response_media_type
from whisper_api.server.openapi import NOT_READY

# The classic text format every Prometheus version reads (Litestar adds the charset).
METRICS_TYPE = "text/plain; version=0.0.4"


@get("/healthz", opt=access(PUBLIC))
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@get("/readyz", responses=NOT_READY, opt=access(PUBLIC))
async def readyz(workers: Pool, database: Db) -> Response[dict[str, Any]]:
    """The default model is loaded and the database (keys, usage, callback jobs) answers."""
    problems = []  # no exception text here: /readyz needs no key, so it must not describe the machine
    if workers.load_error:
        problems.append("model: failed to load (see the server log)")
    elif not workers.loaded.is_set():
        problems.append("model: loading")
    try:
        await asyncio.to_thread(database.ping)
    except Exception:  # any database failure means not ready
        problems.append("database: unavailable (see the server log)")
    body: dict[str, Any] = {"status": "ready" if not problems else "not ready",
                            "model": display_name(workers.default_model)}
    if problems:
        body["problems"] = problems
    return Response(body, status_code=200 if not problems else 503)


@get("/metrics", include_in_schema=False, opt=access(PUBLIC))
async def prometheus(settings: Config, metrics: Meters) -> Response[bytes]:
    """Prometheus metrics (docs/metrics.md); 404 when the metrics setting is off."""
    if not settings.metrics:
        raise ApiError(404, "NOT_FOUND", "Metrics are off on this server (WHISPER_API_METRICS=false).")
    return Response(generate_latest(metrics.registry), media_type=METRICS_TYPE)


ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
SECURITY_HEADERS = {
    # Only our own scripts, styles and connections (the API and its WebSocket); nothing framed.
    "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
                               "img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@cache
def _asset(name: str) -> str:
    return (files("whisper_api.server") / "static" / name).read_text(encoding="utf-8")


@get("/", include_in_schema=False, opt=access(PUBLIC))
async def page(settings: Config) -> Response[str]:
    """The page; with --no-auth it hides the key field."""
    html = _asset("index.html").replace("{{auth}}", "none" if settings.no_auth else "key")
    return Response(html, media_type="text/html", headers=SECURITY_HEADERS)


@get("/static/{name:str}", include_in_schema=False, opt=access(PUBLIC))
async def asset(name: str) -> Response[str]:
    if name not in ASSETS:
        raise NotFoundException(f"no asset {name}")
    return Response(_asset(name), media_type=response_media_type(ASSETS[name] + UTF8), headers=SECURITY_HEADERS)
