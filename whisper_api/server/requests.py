"""Per-request identity: every request gets a UUID, returned as ``dg-request-id`` and in bodies."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request


def request_id(request: Request[Any, Any, Any]) -> str:
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = str(uuid.uuid4())
    return str(state["request_id"])
