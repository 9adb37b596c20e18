"""The Litestar application: routes, error rendering, access log, start-up and shut-down."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ASGIApp

from whisper_api import __version__
from whisper_api.errors import WhisperApiError
from whisper_api.server.body import body_limits
from whisper_api.server.deepgram.account import get_model, grant, list_models
from whisper_api.server.deepgram.job_status import get_job
from whisper_api.server.deepgram.listen import listen, transcribe_callback_job
from whisper_api.server.deepgram.live import live_listen
from whisper_api.server.deepgram.projects import (
    create_key,
    delete_key,
    get_key,
    get_project,
    get_usage,
    list_keys,
    list_projects,
)
from whisper_api.server.deps import PUBLIC, access, authenticate, dependencies
from whisper_api.server.errors import ApiError, ClientGone, from_core
from whisper_api.server.headers import request_id
from whisper_api.server.openai import transcriptions, translations
from whisper_api.server.state import ServerState
from whisper_api.server.system import asset, healthz, page, prometheus, readyz
from whisper_api.settings import Settings

access_log = logging.getLogger("whisper_api.server.access")
logger = logging.getLogger("whisper_api.server")


def _render(request: Request[Any, Any, Any], error: ApiError) -> Response[dict[str, str]]:
    rid = request_id(request)
    request.app.state.server.metrics.errors.labels(error.err_code).inc()
    return Response({"err_code": error.err_code, "err_msg": error.err_msg, "request_id": rid},
                    status_code=error.status, headers={"dg-request-id": rid, **error.headers})


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, str]]:
    return _render(request, exc)


def _core_error(request: Request[Any, Any, Any], exc: WhisperApiError) -> Response[dict[str, str]]:
    return _render(request, from_core(exc))


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, str]]:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}
    code = codes.get(exc.status_code, "Bad Request" if exc.status_code == 400 else "ERROR")
    return _render(request, ApiError(exc.status_code, code, str(exc.detail), dict(exc.headers or {})))


def _client_gone(request: Request[Any, Any, Any], exc: ClientGone) -> Response[dict[str, str]]:
    return _render(request, ApiError(499, "CLIENT_CLOSED_REQUEST", "The client closed the request."))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    logger.exception("unexpected error in %s %s", request.method, request.url.path)
    return _render(request, ApiError(500, "INTERNAL_SERVER_ERROR", "Unexpected server error."))


def access_logger(app: ASGIApp) -> ASGIApp:
    """One log line per request (request id, method, path without query, status, time; no caller),
    and the request metrics, labelled by route template."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started, status = time.monotonic(), 0

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            rid, elapsed = scope.get("state", {}).get("request_id", "-"), time.monotonic() - started
            access_log.info("%s %s %s %d %.3fs", rid, scope["method"], scope["path"], status, elapsed)
            metrics = scope["app"].state.server.metrics
            route = scope.get("path_template", "unmatched")
            metrics.requests.labels(route, scope["method"], str(status)).inc()
            metrics.request_seconds.labels(route).observe(elapsed)

    return middleware


def allow_every_method(app: Litestar) -> None:
    """Answer OPTIONS with every method of the path. Litestar's own answer lists only the methods of the
    first handler registered for a path (GET alone for GET + POST), so clients and checkers are misled."""
    methods = {route.path_format: ", ".join(sorted(route.methods)) for route in app.routes}

    async def before_send(message: Any, scope: Any) -> None:
        if message["type"] == "http.response.start" and scope.get("method") == "OPTIONS":
            allow = methods.get(scope.get("path_template", ""))
            if allow is not None:
                message["headers"] = [(name, value) for name, value in message.get("headers", [])
                                      if name.lower() != b"allow"] + [(b"allow", allow.encode())]

    app.before_send.append(before_send)


def create_app(settings: Settings) -> Litestar:
    server_state = ServerState.create(settings, transcribe_callback_job)

    async def start_loading(app: Litestar) -> None:
        # Kept on the app: the event loop holds only weak references to tasks.
        app.state.loader = asyncio.create_task(server_state.workers.load())
        await server_state.job_runner.start()

    async def shut_down(app: Litestar) -> None:
        await server_state.job_runner.stop()
        await server_state.limiter.close()
        if server_state.workers.remote is not None:
            await server_state.workers.remote.close()
        await asyncio.to_thread(server_state.close)

    app = Litestar(
        route_handlers=[listen, live_listen, grant, list_models, get_model, healthz, readyz, list_projects,
                        get_project, list_keys, create_key, get_key, delete_key, page, asset, transcriptions,
                        translations, get_job, get_usage, prometheus],
        guards=[authenticate],
        dependencies=dependencies(server_state),
        exception_handlers={ApiError: _api_error, WhisperApiError: _core_error, HTTPException: _http_error,
                            ClientGone: _client_gone, Exception: _unexpected},
        middleware=[access_logger, DefineMiddleware(body_limits, max_bytes=settings.max_upload_bytes,
                                                    idle_seconds=settings.body_timeout)],
        on_startup=[start_loading],
        on_shutdown=[shut_down],
        state=State({"server": server_state}),
        # The machine-readable spec only: Litestar's viewer pages load their scripts from CDNs.
        openapi_config=OpenAPIConfig(title="whisper-api", version=__version__, render_plugins=[JsonRenderPlugin()],
                                     openapi_router=Router("/schema", route_handlers=[], include_in_schema=False,
                                                           opt=access(PUBLIC))),
    )
    allow_every_method(app)
    return app
