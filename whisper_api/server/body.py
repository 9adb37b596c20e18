"""Request bodies under control, for every route: a declared length over the upload limit is refused
before a byte is read, a body that stops arriving times out (slow clients hold no connection), more
bytes than the limit end the request, and a client that leaves mid-upload is a 499, not a server fault.
Refusals close the connection, so the rest of an oversized body is never read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.types import ASGIApp, Receive

from whisper_api.server.errors import CLOSE_CONNECTION, ApiError, ClientGone


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"Request body is larger than {max_bytes} bytes.", CLOSE_CONNECTION)


def body_limits(app: ASGIApp, max_bytes: int, idle_seconds: float) -> ASGIApp:
    async def middleware(scope: Any, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        await app(scope, _guarded(receive, _content_length(scope), max_bytes, idle_seconds), send)

    return middleware


def _content_length(scope: Any) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser has already refused anything but digits
    return None


def _guarded(receive: Receive, declared: int | None, max_bytes: int, idle_seconds: float) -> Receive:
    """``receive`` for the route: errors raised here are answered by the route's own error handlers."""
    received, complete = 0, False

    async def guarded() -> Any:
        nonlocal received, complete
        if complete:  # after the body, receive only waits for the disconnect: no timeout
            return await receive()
        if declared is not None and declared > max_bytes:
            raise too_large(max_bytes)
        try:
            message: Any = await asyncio.wait_for(receive(), idle_seconds)
        except asyncio.TimeoutError:
            raise ApiError(408, "REQUEST_TIMEOUT", f"No request body data for {idle_seconds:g} s.",
                           CLOSE_CONNECTION) from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise too_large(max_bytes)
        complete = not message.get("more_body", False)
        return message

    return guarded
