"""The API key store: SQLModel tables behind one small class, shared by the CLI and the server.

Every check reads the database (see whisper_api.database), so revoking or expiring a key takes
effect on the very next request; usage counters are incremented in the database
(``requests = requests + 1``), so concurrent requests never lose an update.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from whisper_api.clock import utc_now
from whisper_api.errors import DatabaseError, KeyNotFoundError, KeyStoreError
from whisper_api.keys import usage
from whisper_api.keys.limits import KeyLimits
from whisper_api.keys.tokens import KeyToken, hash_secret, new_token, parse_token, secret_matches
from whisper_api.keys.usage import DayUsage
from whisper_api.store.db import Database
from whisper_api.store.tables import ApiKeyRow, KeyLimitsRow

SCOPES = ("listen", "admin")
USAGE_ATTEMPTS = 3
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ApiKey:
    """A key as the rest of the program sees it: never the secret, never its hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    requests: int
    audio_seconds: float
    limits: KeyLimits

    @classmethod
    def of(cls, row: ApiKeyRow, session: Session) -> ApiKey:
        return cls(row.id, row.name, tuple(row.scopes.split()), row.created_at, row.expires_at, row.revoked_at,
                   row.last_used_at, row.requests,
                   row.audio_seconds, KeyLimits.of(session.get(KeyLimitsRow, row.id)))

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes  # admin keys may do everything


@dataclass(frozen=True)
class Verification:
    key: ApiKey | None
    reason: str | None
    """None when the key is good; else malformed, unknown, revoked, expired or scope."""

    @property
    def ok(self) -> bool:
        return self.reason is None


class KeyStore:
    def __init__(self, database: Database | str, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.database = database if isinstance(database, Database) else Database(database)
        self.display_url = self.database.display_url
        self._session = self.database.session

    def close(self) -> None:
        self.database.close()

    def create(self, name: str = "", scopes: tuple[str, ...] = ("listen",),
               expires_at: datetime | None = None) -> tuple[ApiKey, KeyToken]:
        """A new key and its token: the only time the secret exists outside the caller's hands."""
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown or not scopes:
            raise KeyStoreError(f"unknown scope '{unknown[0] if unknown else ''}'; scopes: {', '.join(SCOPES)}")
        token = new_token()
        row = ApiKeyRow(id=token.id, name=name, scopes=" ".join(dict.fromkeys(scopes)),
                        secret_sha256=hash_secret(token.secret), created_at=self.clock(), expires_at=expires_at)
        with self._session() as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            return ApiKey.of(row, session), token

    def list(self) -> list[ApiKey]:
        with self._session() as session:
            rows = session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.created_at))).all()
            return [ApiKey.of(row, session) for row in rows]

    def get(self, key_id: str) -> ApiKey:
        with self._session() as session:
            return ApiKey.of(_row(session, key_id), session)

    def revoke(self, key_id: str) -> ApiKey:
        with self._session() as session:
            row = _row(session, key_id)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                session.add(row)
                session.commit()
                session.refresh(row)
            return ApiKey.of(row, session)

    def verify(self, text: str, scope: str = "listen") -> Verification:
        token = parse_token(text)
        if token is None:
            return Verification(None, "malformed")
        with self._session() as session:
            row = session.get(ApiKeyRow, token.id)
            if row is None or not secret_matches(token.secret, row.secret_sha256):
                return Verification(None, "unknown")
            key = ApiKey.of(row, session)
        status = key.status(self.clock())
        if status != "active":
            return Verification(key, status)
        return Verification(key, None if key.allows(scope) else "scope")

    async def verify_async(self, text: str, scope: str = "listen") -> Verification:
        """verify() on a worker thread, so a server's event loop never waits on the database."""
        return await asyncio.to_thread(self.verify, text, scope)

    def record_usage(self, key_id: str, audio_seconds: float = 0.0, requests: int = 1) -> None:
        """Add to the key's totals and to its row for today (UTC), in one transaction."""
        now = self.clock()
        totals = (
            update(ApiKeyRow)
            .where(col(ApiKeyRow.id) == key_id)
            .values(requests=col(ApiKeyRow.requests) + requests,
                    audio_seconds=col(ApiKeyRow.audio_seconds) + audio_seconds, last_used_at=now)
        )
        for attempt in range(USAGE_ATTEMPTS):
            try:
                with self._session() as session:
                    session.execute(totals)
                    usage.add_day_usage(session, key_id, now.date(), requests, audio_seconds)
                    session.commit()
                return
            except DatabaseError as exc:  # another request created today's row first: add to it
                if not isinstance(exc.__cause__, IntegrityError) or attempt == USAGE_ATTEMPTS - 1:
                    raise

    def usage(self, key_id: str | None = None, first: date | None = None,
              last: date | None = None) -> builtins.list[DayUsage]:
        """Usage per key and day, oldest first; ``key_id`` None means every key."""
        with self._session() as session:
            return usage.days(session, None if key_id is None else _row(session, key_id).id, first, last)

    def audio_seconds_since(self, key_id: str, first: date) -> float:
        with self._session() as session:
            return usage.audio_seconds_since(session, key_id, first)

    def set_limits(self, key_id: str, limits: KeyLimits) -> ApiKey:
        with self._session() as session:
            row = _row(session, key_id)
            stored = session.get(KeyLimitsRow, row.id)
            if limits.unlimited:
                if stored is not None:
                    session.delete(stored)
            else:
                stored = stored or KeyLimitsRow(key_id=row.id)
                for name, value in vars(limits).items():
                    setattr(stored, name, value)
                session.add(stored)
            session.commit()
            return ApiKey.of(_row(session, row.id), session)


def _row(session: Session, text: str) -> ApiKeyRow:
    key_id = _id_of(text)
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise KeyNotFoundError(f"no key with id '{key_id}'")
    return row


def _id_of(text: str) -> str:
    """An id, or the id inside a full key (so a pasted key works; its secret is ignored)."""
    token = parse_token(text)
    return token.id if token else text.strip()
