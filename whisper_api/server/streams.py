"""A key's concurrent live streams, counted in this process or across servers in Redis.

In Redis each open stream is a member of the key's sorted set, scored with the moment its slot
lapses (Redis's own clock, so servers' clocks need not agree). Taking a slot drops the lapsed
members, counts the rest and adds one, in one script (atomic: two servers cannot both take the
last slot). A server renews its streams' slots every third of their lifetime (putting back one that
lapsed while Redis was out of reach: the stream is still open) and removes a slot when its stream
ends; a server that dies stops renewing, and its streams' slots lapse within ``SLOT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from typing import Protocol

from whisper_api.errors import SettingsError
from whisper_api.server.errors import ApiError

SLOT_SECONDS = 30
"""How long a stream's slot outlives the last renewal from its server."""
PREFIX = "whisper-api:streams:"
logger = logging.getLogger("whisper_api.server")

_TAKE = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', seconds)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 1)
return 1
"""
_RENEW = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[1]), ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]) + 1)
return 1
"""


class SlotStore(Protocol):
    async def take(self, key_id: str, allowed: int) -> str | None:
        """A token for one of the key's ``allowed`` slots, or None when all are taken."""

    async def give_back(self, key_id: str, token: str) -> None: ...

    async def close(self) -> None: ...


class LocalSlots:
    """This process's streams only: right for one server."""

    def __init__(self) -> None:
        self._streams: Counter[str] = Counter()

    async def take(self, key_id: str, allowed: int) -> str | None:
        if self._streams[key_id] >= allowed:
            return None
        self._streams[key_id] += 1
        return key_id

    async def give_back(self, key_id: str, token: str) -> None:
        self._streams[key_id] -= 1
        if not self._streams[key_id]:
            del self._streams[key_id]

    async def close(self) -> None:
        return None


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "SERVICE_UNAVAILABLE", "Service Unavailable: the store of live-stream counts "
                    f"cannot be reached ({type(exc).__name__}); try again shortly.", {"Retry-After": "5"})


class SharedSlots:
    """Slots in the Redis the servers share for their rate limits."""

    def __init__(self, storage_uri: str) -> None:
        try:
            import redis.asyncio
            import redis.exceptions
        except ImportError:
            raise SettingsError("rate_limit_storage on Redis needs its extra: "
                                "pip install 'whisper-api[redis]'") from None
        self._errors: tuple[type[Exception], ...] = (OSError, redis.exceptions.RedisError)
        self._client = redis.asyncio.from_url(storage_uri.removeprefix("async+"), socket_timeout=5,
                                               socket_connect_timeout=5)
        self._take, self._renew = self._client.register_script(_TAKE), self._client.register_script(_RENEW)
        self._held: dict[str, str] = {}  # token -> key id, renewed while held
        self._renewer: asyncio.Task[None] | None = None

    async def take(self, key_id: str, allowed: int) -> str | None:
        token = uuid.uuid4().hex
        try:
            taken = await self._take(keys=[PREFIX + key_id], args=[allowed, SLOT_SECONDS, token])
        except self._errors as exc:
            raise _unavailable(exc) from None
        if not taken:
            return None
        self._held[token] = key_id
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_held())
        return token

    async def give_back(self, key_id: str, token: str) -> None:
        self._held.pop(token, None)
        try:
            await self._client.zrem(PREFIX + key_id, token)
        except self._errors as exc:  # it lapses by itself
            logger.warning("could not free a live-stream slot in Redis (it lapses in %d s): %s", SLOT_SECONDS, exc)

    async def _renew_held(self) -> None:
        while True:
            await asyncio.sleep(SLOT_SECONDS / 3)
            for token, key_id in list(self._held.items()):
                try:
                    await self._renew(keys=[PREFIX + key_id], args=[SLOT_SECONDS, token])
                except self._errors as exc:
                    logger.warning("could not renew a live-stream slot in Redis: %s", exc)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self._client.aclose()

