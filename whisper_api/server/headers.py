"""What every response carries: its request id (a UUID, returned as ``dg-request-id`` and in bodies) and a
media type with one charset."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request


def request_id(request: Request[Any, Any, Any]) -> str:
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = str(uuid.uuid4())
    return str(state["request_id"])


UTF8 = "; charset=utf-8"


def response_media_type(media_type: str) -> str:
    """A media type to hand Litestar, which adds the charset to text/* types itself (never twice)."""
    return media_type.removesuffix(UTF8) if media_type.startswith("text/") else media_type
