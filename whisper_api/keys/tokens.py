"""API key tokens: how they look, how they are made, and how the store recognises one.

A key is ``wa_<id>_<secret>``: the id (12 hex characters) is public and finds the row; the
secret (32 random bytes, 256 bits, URL-safe base64) is shown once and stored only as its
SHA-256. A plain hash is right here: the secret is random and long, so there is nothing to
guess, and a deliberately slow password hash would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "wa_"
ID_HEX_CHARS = 12
_TOKEN = re.compile(rf"^{PREFIX}([0-9a-f]{{{ID_HEX_CHARS}}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class KeyToken:
    id: str
    secret: str

    @property
    def text(self) -> str:
        return f"{PREFIX}{self.id}_{self.secret}"


def new_token() -> KeyToken:
    return KeyToken(secrets.token_hex(ID_HEX_CHARS // 2), secrets.token_urlsafe(32))


def parse_token(text: str) -> KeyToken | None:
    match = _TOKEN.match(text.strip())
    return KeyToken(match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison, so response timing says nothing about the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
