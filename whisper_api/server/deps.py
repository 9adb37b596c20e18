"""What a route handler receives, and who may call it: every route needs a key unless it says otherwise.

A route states its access in ``opt={"access": ...}``; a route that states nothing gets ``LISTEN``, so a new
route is never open by accident. The guard puts the caller on the connection's state, and a handler that
needs it asks for a ``caller`` parameter. Handlers ask for the parts of the server they use
(``workers``, ``settings``, ``usage``, ``key_store``, ``jobs``, ...; see ``dependencies``), never the whole
state. The
WebSocket route authenticates in its handshake (``SELF``): browsers send their key as a subprotocol,
and a refusal there is a close frame, not an HTTP answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import SkipValidation

from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyStore
from whisper_api.server.auth import Authenticator, Caller
from whisper_api.server.callbacks import JobRunner, RecordUsage
from whisper_api.server.errors import bad_request
from whisper_api.server.fetch import AllowList
from whisper_api.server.limits import KeyLimiter
from whisper_api.server.metrics import Metrics
from whisper_api.server.state import ServerState
from whisper_api.server.workers import Workers
from whisper_api.settings import Settings
from whisper_api.store.db import Database

# Parts are injected as they are (Litestar would otherwise try to validate them as data).
Keys = SkipValidation[KeyStore]
"""The key store (key management needs authentication on)."""
Jobs = SkipValidation[JobStore]
Auth = SkipValidation[Authenticator]
Pool = SkipValidation[Workers]
Config = SkipValidation[Settings]
Usage = SkipValidation[RecordUsage]
Limiter = SkipValidation[KeyLimiter]
Meters = SkipValidation[Metrics]
Runner = SkipValidation[JobRunner]
Hosts = SkipValidation[AllowList]
Db = SkipValidation[Database]


@dataclass(frozen=True)
class Access:
    scope: str
    temporary: bool = True
    """Whether a temporary token (from /v1/auth/grant) will do."""
    limited: bool = False
    """Whether the call counts against the key's rate limit (transcriptions do)."""


LISTEN = Access("listen")
TRANSCRIBE = Access("listen", limited=True)
KEY_ONLY = Access("listen", temporary=False)
ADMIN = Access("admin", temporary=False)
PUBLIC = "public"
SELF = "self"


def access(kind: Access | str) -> dict[str, Any]:
    """A route's ``opt``, e.g. ``@get(..., opt=access(PUBLIC))``."""
    return {"access": kind}


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app's one guard: find the caller the route asks for, or refuse (401/403/429)."""
    kind = handler.opt.get("access", LISTEN)
    if isinstance(kind, Access):
        server: ServerState = connection.app.state.server
        connection.state.caller = await admitted_caller(server.auth, server.limiter,
                                                        connection.headers.get("authorization"), kind)


async def admitted_caller(auth: Authenticator, limiter: KeyLimiter, authorization: str | None,
                          kind: Access) -> Caller:
    """The caller behind ``authorization``, if it may have this access (and, for a limited call, once its
    key's rate limit lets it in); the guard's check, and the WebSocket handshake's."""
    caller = await auth.caller(authorization, kind.scope, kind.temporary)
    if kind.limited:
        await limiter.admit(caller)
    return caller


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.state.caller
    return caller


def dependencies(state: ServerState) -> dict[str, Provide]:
    """What handlers may ask for, by parameter name."""

    def key_store() -> KeyStore:
        if state.store is None:
            raise bad_request("Bad Request: key management needs authentication on (the server runs with --no-auth).")
        return state.store

    parts: dict[str, Any] = {"workers": state.workers, "settings": state.settings, "usage": state.record_usage,
                             "limiter": state.limiter, "metrics": state.metrics, "job_runner": state.job_runner,
                             "jobs": state.job_runner.store, "auth": state.auth,
                             "allowed_hosts": state.allowed_hosts, "database": state.database}
    provided = {name: Provide(_constant(part), sync_to_thread=False) for name, part in parts.items()}
    return {**provided, "caller": Provide(provide_caller, sync_to_thread=False),
            "key_store": Provide(key_store, sync_to_thread=False)}


def _constant(part: Any) -> Callable[[], Any]:
    def provide() -> Any:
        return part

    return provide
