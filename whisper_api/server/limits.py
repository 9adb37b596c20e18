"""Per-key limits at the door: requests per minute, concurrent live streams, audio-minutes quota.

Request rates use the ``limits`` library's moving window, kept in memory by default or in a
store several servers share (``WHISPER_API_RATE_LIMIT_STORAGE``, e.g. ``redis://``). A key's
concurrent live streams are counted where its requests are: in this process, or in the same Redis,
where each stream holds a slot that lapses unless its server renews it, so the streams of a
server that died free their slots by themselves (streams.py). Each server also caps its own streams,
all keys together (``max_streams``, so idle streams cannot pile up ffmpeg processes without
end). The quota compares the audio already recorded for the
key in the current UTC day or month with its allowance; a request that starts under it runs
to its end, so a key can pass its quota by at most the requests it had running.
Every refusal is 429 with a Retry-After: when the window frees a slot, or the next period.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from whisper_api.errors import SettingsError
from whisper_api.keys import KeyStore, utc_now
from whisper_api.server.auth import Caller
from whisper_api.server.errors import ApiError
from whisper_api.server.streams import LocalSlots, SharedSlots, SlotStore
from whisper_api.settings import is_redis_url

STREAM_RETRY_SECONDS = 5
"""How long a client refused a stream slot should wait: streams end at no predictable time."""


def limit_reached(retry_after: float, what: str) -> ApiError:
    return ApiError(429, "TOO_MANY_REQUESTS", f"Too many requests: this key's {what} is reached.",
                    {"Retry-After": str(max(1, math.ceil(retry_after)))})


class KeyLimiter:
    def __init__(self, storage_uri: str, store: KeyStore | None, max_streams: int) -> None:
        try:
            storage = storage_from_string(storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}")
        except Exception as exc:  # the library raises ConfigurationError or a driver's ImportError
            hint = " (pip install 'whisper-api[redis]')" if "redis" in storage_uri else ""
            raise SettingsError(f"rate_limit_storage: {exc}{hint}") from None
        self._window = MovingWindowRateLimiter(storage)
        self.slots: SlotStore = SharedSlots(storage_uri) if is_redis_url(storage_uri) else LocalSlots()
        self.open_streams = 0
        self.max_streams = max_streams
        self.store = store

    async def admit(self, caller: Caller) -> None:
        """Count one request for the caller's key, or refuse it with 429."""
        limits, key_id = caller.limits, caller.key_id
        if key_id is None or limits.unlimited:
            return
        if limits.audio_minutes is not None and self.store is not None:
            first_day, next_period = limits.period(utc_now())
            used = await asyncio.to_thread(self.store.audio_seconds_since, key_id, first_day)
            if used >= limits.audio_minutes * 60:
                wait = (next_period - utc_now()).total_seconds()
                raise limit_reached(wait, f"quota of {limits.audio_minutes:g} audio minutes per {limits.quota_period}")
        if limits.requests_per_minute is not None:
            await self._count_request(key_id, limits.requests_per_minute)

    async def _count_request(self, key_id: str, per_minute: int) -> None:
        what = f"limit of {per_minute} requests per minute"
        if per_minute == 0:
            raise limit_reached(60, what)
        item = RateLimitItemPerMinute(per_minute)
        if not await self._window.hit(item, key_id):
            stats = await self._window.get_window_stats(item, key_id)
            raise limit_reached(stats.reset_time - time.time(), what)

    async def open_stream(self, caller: Caller) -> StreamSlot:
        """Take one of the server's and the key's live-stream slots, or refuse with 429; the slot's
        ``release`` gives them back."""
        if self.open_streams >= self.max_streams:
            raise ApiError(429, "TOO_MANY_REQUESTS", f"Too many requests: this server's limit of {self.max_streams} "
                           "live streams is reached.", {"Retry-After": str(STREAM_RETRY_SECONDS)})
        key_id, allowed = caller.key_id, caller.limits.concurrent_streams
        self.open_streams += 1  # taken before the shared store is asked, so handshakes at once cannot pass the cap
        try:
            token = None
            if key_id is not None and allowed is not None:
                token = await self.slots.take(key_id, allowed)
                if token is None:
                    raise limit_reached(STREAM_RETRY_SECONDS, f"limit of {allowed} concurrent streams")
        except BaseException:
            self.open_streams -= 1
            raise
        return StreamSlot(self, key_id, token)

    async def close(self) -> None:
        await self.slots.close()


@dataclass
class StreamSlot:
    limiter: KeyLimiter
    key_id: str | None
    token: str | None
    """The key's slot, when the key has a stream limit."""
    released: bool = False

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.limiter.open_streams -= 1
        if self.key_id is not None and self.token is not None:
            await self.limiter.slots.give_back(self.key_id, self.token)
