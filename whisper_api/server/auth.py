"""Who is calling: API keys from the key store, and short-lived tokens from ``/v1/auth/grant``.

``Authorization: Token <key>`` carries a key; ``Bearer <jwt>`` a temporary token (both in any
case, since the Python SDK sends ``bearer``). Tokens are HS256 JWTs signed with the
``signing_secret`` setting (servers behind one address share it) or else a secret kept in
``$WHISPER_API_HOME/server-secret``; a token stops working as soon as the key that granted it is
revoked or expires, because every check also reads the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import jwt

from whisper_api.errors import KeyNotFoundError, KeyStoreError
from whisper_api.keys import KeyLimits, KeyStore, utc_now
from whisper_api.keys.tokens import PREFIX as KEY_PREFIX
from whisper_api.server.errors import ApiError, bad_request, forbidden, invalid_auth

DEFAULT_TTL, MAX_TTL = 30, 3600
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Caller:
    key_id: str | None
    """None when authentication is off."""
    scopes: tuple[str, ...]
    temporary: bool = False
    limits: KeyLimits = field(default_factory=KeyLimits)


ANONYMOUS = Caller(None, ("listen", "admin"))


def signing_secret(configured: str, home: Path) -> bytes:
    """The ``signing_secret`` setting (what servers behind one address share), else the home's own."""
    return configured.encode() if configured else load_secret(home)


def load_secret(home: Path) -> bytes:
    """The signing secret, created once (mode 600) and kept across restarts.

    It is written to a private temporary file and linked into place, so a server starting at the
    same moment never reads a half-written secret.
    """
    path = home / "server-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=home, prefix=".server-secret.")  # created with mode 600
        try:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):  # another server linked its secret first: use that one
                os.link(temporary, path)
        finally:
            Path(temporary).unlink()
    secret = bytes.fromhex(path.read_text().strip())
    if len(secret) < 32:
        raise KeyStoreError(f"{path} holds no usable secret; delete it and restart")
    return secret


HOW_TO_AUTHENTICATE = ("Send the API key in the header 'Authorization: Token YOUR_KEY' (or a temporary token "
                       "as 'Authorization: Bearer TOKEN'; browsers: the WebSocket subprotocols 'token', KEY).")


class Authenticator:
    def __init__(self, store: KeyStore | None, secret: bytes) -> None:
        self.store = store
        """None means authentication is off (--no-auth)."""
        self.secret = secret

    async def caller(self, authorization: str | None, scope: str, allow_temporary: bool = True) -> Caller:
        if self.store is None:
            return ANONYMOUS
        scheme, _, credential = (authorization or "").strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("token", "bearer"):
            raise invalid_auth(HOW_TO_AUTHENTICATE if not authorization else f"Unknown scheme. {HOW_TO_AUTHENTICATE}")
        # OpenAI clients send the API key as a Bearer credential; our temporary tokens are JWTs.
        if scheme == "token" or (scheme == "bearer" and credential.strip().startswith(KEY_PREFIX)):
            verification = await self.store.verify_async(credential.strip(), scope)
            if verification.reason == "scope":
                raise forbidden()
            if not verification.ok or verification.key is None:
                raise invalid_auth()
            return Caller(verification.key.id, verification.key.scopes, limits=verification.key.limits)
        if scheme == "bearer" and allow_temporary:
            return await self._temporary(credential.strip(), scope)
        raise invalid_auth()

    async def _temporary(self, token: str, scope: str) -> Caller:
        assert self.store is not None
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            raise invalid_auth() from None
        if scope not in str(claims.get("scope", "")).split():
            raise forbidden()
        try:
            key = await asyncio.to_thread(self.store.get, str(claims["sub"]))
        except KeyNotFoundError:
            raise invalid_auth() from None
        if key.status(utc_now()) != "active":
            raise invalid_auth()
        return Caller(key.id, ("listen",), temporary=True, limits=key.limits)

    def grant(self, caller: Caller, ttl_seconds: object) -> dict[str, object]:
        """A token for listening only, valid ``ttl_seconds`` (1..3600, default 30)."""
        if caller.temporary:
            raise ApiError(403, "INSUFFICIENT_PERMISSIONS", "Temporary tokens cannot grant tokens.")
        ttl = DEFAULT_TTL if ttl_seconds is None else ttl_seconds
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TTL:
            raise bad_request(f"Bad Request: ttl_seconds must be a number from 1 to {MAX_TTL}.")
        now = utc_now()
        claims = {"sub": caller.key_id or "anonymous", "scope": "listen", "iat": now,
                  "exp": now + timedelta(seconds=ttl), "jti": str(uuid.uuid4())}
        return {"access_token": jwt.encode(claims, self.secret, algorithm=ALGORITHM), "expires_in": ttl}


def websocket_credentials(authorization: str | None, subprotocols: list[str]) -> tuple[str | None, str | None]:
    """The credentials of a WebSocket handshake, and the subprotocol to accept.

    Browsers cannot set headers, so they offer ``token, <KEY>`` (or ``bearer, <JWT>``) as
    subprotocols; the accepted subprotocol must be one of those offered, and is never the key.
    """
    for index, entry in enumerate(subprotocols[:-1]):
        if entry.strip().lower() in ("token", "bearer"):
            return authorization or f"{entry.strip()} {subprotocols[index + 1].strip()}", entry
    return authorization, None
