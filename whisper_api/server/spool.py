"""Incoming audio (an upload or a download) written to a private file, hashed, within a limit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from whisper_api.server.errors import ApiError


@dataclass(frozen=True)
class Spooled:
    path: Path
    size: int
    sha256: str


async def spool(chunks: AsyncIterator[bytes], dest: Path, max_bytes: int, what: str) -> Spooled:
    """Write ``chunks`` to ``dest``; 413 as soon as they pass ``max_bytes`` (``what`` names them)."""
    digest, size = hashlib.sha256(), 0
    with dest.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, "PAYLOAD_TOO_LARGE", f"{what} is larger than {max_bytes} bytes.")
            digest.update(chunk)
            out.write(chunk)
    return Spooled(dest, size, digest.hexdigest())
