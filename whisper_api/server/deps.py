"""What a route handler receives, and who may call it: every route needs a key unless it says otherwise.

A route states its access in ``opt={"access": ...}``; a route that states nothing gets ``LISTEN``, so a new
route is never open by accident. The guard puts the caller on the connection's state, and a handler that
needs it asks for a ``caller`` parameter. Handlers ask for the parts of the server they use
(``key_store``, ``jobs``, ``models``, ``auth``), or for ``server`` when they orchestrate a transcription. The
WebSocket route authenticates in its handshake (``SELF``): browsers send their key as a subprotocol,
and a refusal there is a close frame, not an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import SkipValidation

from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyStore
from whisper_api.models import ModelStore
from whisper_api.server.auth import Authenticator, Caller
from whisper_api.server.errors import bad_request
from whisper_api.server.state import ServerState

Keys = SkipValidation[KeyStore]
"""The key store (key management needs authentication on)."""
Jobs = SkipValidation[JobStore]
Models = SkipValidation[ModelStore]
Auth = SkipValidation[Authenticator]


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
        connection.state.caller = await admitted_caller(connection.app.state.server,
                                                        connection.headers.get("authorization"), kind)


async def admitted_caller(server: ServerState, authorization: str | None, kind: Access) -> Caller:
    """The caller behind ``authorization``, if it may have this access (and, for a limited call, once its
    key's rate limit lets it in); the guard's check, and the WebSocket handshake's."""
    caller = await server.auth.caller(authorization, kind.scope, kind.temporary)
    if kind.limited:
        await server.limiter.admit(caller)
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

    return {"server": Provide(lambda: state, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
            "key_store": Provide(key_store, sync_to_thread=False),
            "jobs": Provide(lambda: state.job_runner.store, sync_to_thread=False),
            "models": Provide(lambda: state.models, sync_to_thread=False),
            "auth": Provide(lambda: state.auth, sync_to_thread=False)}
