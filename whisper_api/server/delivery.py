"""Delivering a finished job to its callback URL: one attempt at a time, through the URL guard.

Every attempt resolves the host again and checks each address (the guard ``url`` sources
pass), then connects to the checked address, so a callback host cannot later be pointed at
the server's own network. Redirects are not followed; only a 2xx answer counts as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from whisper_api import __version__
from whisper_api.server.errors import ApiError
from whisper_api.server.fetch import AllowList, pinned_request

ATTEMPT_TIMEOUT = 30.0
MAX_DELAY = 600.0


@dataclass(frozen=True)
class Delivery:
    url: str
    method: str
    body: bytes
    headers: dict[str, str]


def retry_delay(first: float, failed_attempts: int) -> float:
    """The wait after ``failed_attempts`` failures: ``first``, doubling each time, at most 10 minutes."""
    return min(first * 2.0 ** min(failed_attempts - 1, 30), MAX_DELAY)


async def attempt(delivery: Delivery, allowed: AllowList) -> str | None:
    """Send once; None when the receiver answered 2xx, else why not (never the body or credentials)."""
    headers = {"user-agent": f"whisper-api/{__version__}", **delivery.headers}
    async with httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        try:
            request = await pinned_request(client, delivery.method, httpx.URL(delivery.url), allowed,
                                           delivery.body, headers, what="callback")
            response = await client.send(request, stream=True)  # the receiver's answer body is never read
            await response.aclose()
        except ApiError as exc:
            return exc.err_msg.removeprefix("Bad Request: ")
        except (httpx.HTTPError, ValueError) as exc:
            return f"could not connect ({type(exc).__name__})"
    if response.is_success:
        return None
    return f"the callback answered HTTP {response.status_code}"
