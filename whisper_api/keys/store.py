"""The API key store: SQLModel tables behind one small class, shared by the CLI and the server.

Any SQLAlchemy URL works (SQLite by default; PostgreSQL when several servers share keys): the
store uses no database-specific SQL. Every check reads the database, so revoking or expiring
a key takes effect on the very next request; usage counters are incremented in the database
(``requests = requests + 1``), so concurrent requests never lose an update.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from whisper_api.errors import KeyNotFoundError, KeyStoreError
from whisper_api.keys.tokens import KeyToken, hash_secret, new_token, parse_token, secret_matches

SCOPES = ("listen", "admin")
SCHEMA_VERSION = 1
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    scopes: str = Field(max_length=100)
    """Space-separated scope names: a portable column type on every database."""
    secret_sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    requests: int = 0
    audio_seconds: float = 0.0


class SchemaVersionRow(SQLModel, table=True):
    __tablename__ = "whisper_api_schema"

    id: int = Field(default=1, primary_key=True)
    version: int


# Version -> the change that brings a database from the version before up to it. Tables added
# in a later version are created by create_all; these steps alter what already exists.
MIGRATIONS: dict[int, Callable[[Session], None]] = {}


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every one the store writes is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


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

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.id, row.name, tuple(row.scopes.split()), _utc(row.created_at) or row.created_at,
                   _utc(row.expires_at), _utc(row.revoked_at), _utc(row.last_used_at), row.requests,
                   row.audio_seconds)

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
    def __init__(self, url: str, clock: Clock = utc_now) -> None:
        self.clock = clock
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise KeyStoreError("the key database URL is not a valid SQLAlchemy URL") from None
        self.display_url = parsed.render_as_string(hide_password=True)
        """The URL without its password: the only form that goes into messages."""
        try:
            self.engine = _open(url)
            self._migrate()
        except ImportError as exc:
            raise KeyStoreError(f"no database driver for {parsed.get_backend_name()} ({exc.name} is not "
                                "installed); for PostgreSQL: pip install 'whisper-api[postgres]'") from None
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"cannot open the key database {self.display_url}: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session:
                yield session
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"key database {self.display_url}: {_reason(exc)}") from exc

    def _migrate(self) -> None:
        for attempt in range(3):  # another process may be creating the same tables right now
            try:
                SQLModel.metadata.create_all(self.engine)
                with Session(self.engine) as session:
                    _upgrade(session)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    raise

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
            return ApiKey.of(row), token

    def list(self) -> list[ApiKey]:
        with self._session() as session:
            rows = session.exec(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()  # type: ignore[arg-type]
            return [ApiKey.of(row) for row in rows]

    def get(self, key_id: str) -> ApiKey:
        with self._session() as session:
            return ApiKey.of(_row(session, key_id))

    def revoke(self, key_id: str) -> ApiKey:
        with self._session() as session:
            row = _row(session, key_id)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                session.add(row)
                session.commit()
                session.refresh(row)
            return ApiKey.of(row)

    def verify(self, text: str, scope: str = "listen") -> Verification:
        token = parse_token(text)
        if token is None:
            return Verification(None, "malformed")
        with self._session() as session:
            row = session.get(ApiKeyRow, token.id)
            if row is None or not secret_matches(token.secret, row.secret_sha256):
                return Verification(None, "unknown")
            key = ApiKey.of(row)
        status = key.status(self.clock())
        if status != "active":
            return Verification(key, status)
        return Verification(key, None if key.allows(scope) else "scope")

    async def verify_async(self, text: str, scope: str = "listen") -> Verification:
        """verify() on a worker thread, so a server's event loop never waits on the database."""
        return await asyncio.to_thread(self.verify, text, scope)

    def record_usage(self, key_id: str, audio_seconds: float = 0.0, requests: int = 1) -> None:
        statement: Any = (
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id)  # type: ignore[arg-type]
            .values(requests=ApiKeyRow.requests + requests, audio_seconds=ApiKeyRow.audio_seconds + audio_seconds,
                    last_used_at=self.clock())
        )
        with self._session() as session:
            session.execute(statement)
            session.commit()


def _upgrade(session: Session) -> None:
    current = session.get(SchemaVersionRow, 1)
    if current is None:  # a new database: create_all has just made the current schema
        session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
        session.commit()
        return
    if current.version > SCHEMA_VERSION:
        raise KeyStoreError(f"the key database has schema version {current.version}, newer than this "
                            f"whisper-api understands ({SCHEMA_VERSION}); upgrade whisper-api")
    for version in range(current.version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](session)
        current.version = version
        session.add(current)
        session.commit()


def _open(url: str) -> Engine:
    parsed = make_url(url)
    # hide_parameters: a failing statement's message never carries the values it was given.
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, **options)
    if parsed.database and parsed.database != ":memory:":
        _create_private_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 30}, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; a killed writer loses nothing
    cursor.execute("PRAGMA busy_timeout=30000")  # writers from other processes wait their turn
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_private_file(path: Path) -> None:
    """The database file is created readable by its owner only (SQLite gives -wal/-shm the same mode)."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise KeyStoreError(f"cannot create the key database {path}: {exc.strerror} ({exc.filename})") from exc


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


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).splitlines()[0]
