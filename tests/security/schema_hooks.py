"""schemathesis hooks for the schema test: the fuzzer's made-up URLs never leave this machine."""

from __future__ import annotations

from typing import Any

import schemathesis

NOWHERE = "http://127.0.0.1:9/audio"
"""A loopback address the server refuses as private before connecting (the test allows no hosts)."""


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Replace ``callback`` and a JSON body's ``url``, which the server would resolve and fetch."""
    if isinstance(case.query, dict) and "callback" in case.query:
        case.query["callback"] = NOWHERE
    if isinstance(case.body, dict) and "url" in case.body:
        case.body["url"] = NOWHERE
