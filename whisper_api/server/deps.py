"""Who may call a route, checked before its handler runs: every route needs a key unless it says otherwise.

A route states its access in ``opt={"access": ...}``; a route that states nothing gets ``LISTEN``, so a new
route is never open by accident. The guard puts the caller on the connection's state, and a handler that
needs it asks for a ``caller`` parameter. The WebSocket route authenticates in its handshake (``SELF``):
browsers send their key as a subprotocol, and a refusal there is a close frame, not an HTTP answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from whisper_api.server.auth import Caller


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
    if not isinstance(kind, Access):
        return
    server = connection.app.state.server
    caller = await server.auth.caller(connection.headers.get("authorization"), kind.scope, kind.temporary)
    if kind.limited:
        await server.limiter.admit(caller)
    connection.state.caller = caller


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.state.caller
    return caller
