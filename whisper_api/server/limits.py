"""Per-key limits at the door: requests per minute, concurrent live streams, audio-minutes quota.

Request rates use the ``limits`` library's moving window, kept in memory by default or in a
store several servers share (``WHISPER_API_RATE_LIMIT_STORAGE``, e.g. ``redis://``). Live
streams are counted in this process, per key and all together (``max_streams``, so idle streams
cannot pile up ffmpeg processes without end). The quota compares the audio already recorded for the
key in the current UTC day or month with its allowance; a request that starts under it runs
to its end, so a key can pass its quota by at most the requests it had running.
Every refusal is 429 with a Retry-After: when the window frees a slot, or the next period.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from whisper_api.errors import SettingsError
from whisper_api.keys import KeyStore, utc_now
from whisper_api.server.auth import Caller
from whisper_api.server.errors import ApiError

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
        self._streams: Counter[str] = Counter()
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

    def open_stream(self, caller: Caller) -> None:
        """Take one of the server's and the key's live-stream slots, or refuse with 429; close_stream
        gives them back."""
        if self.open_streams >= self.max_streams:
            raise ApiError(429, "TOO_MANY_REQUESTS", f"Too many requests: this server's limit of {self.max_streams} "
                           "live streams is reached.", {"Retry-After": str(STREAM_RETRY_SECONDS)})
        key_id, allowed = caller.key_id, caller.limits.concurrent_streams
        if key_id is not None and allowed is not None and self._streams[key_id] >= allowed:
            raise limit_reached(STREAM_RETRY_SECONDS, f"limit of {allowed} concurrent streams")
        self.open_streams += 1
        if key_id is not None:
            self._streams[key_id] += 1

    def close_stream(self, caller: Caller) -> None:
        self.open_streams -= 1
        if caller.key_id is not None:
            self._streams[caller.key_id] -= 1
            if not self._streams[caller.key_id]:
                del self._streams[caller.key_id]
