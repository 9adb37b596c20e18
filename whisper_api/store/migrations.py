"""Schema versions: what brings a database written by an older whisper-api up to this one.

Tables added in a later version are created by ``create_all`` on open; the steps here alter
tables that already exist. A database newer than this code is refused, never written.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, inspect, text
from sqlmodel import Session, SQLModel

from whisper_api.errors import DatabaseError
from whisper_api.store.tables import JobRow, SchemaVersionRow

SCHEMA_VERSION = 2


def add_lease_columns(session: Session) -> None:
    """Schema 2: job leases. Databases whose job table came with schema 1 gain the two columns."""
    connection = session.connection()
    present = {column["name"] for column in inspect(connection).get_columns(JobRow.__tablename__)}
    for name in ("owner", "lease_until"):
        if name not in present:
            column_type = _jobs().columns[name].type.compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {JobRow.__tablename__} ADD COLUMN {name} {column_type}"))


def _jobs() -> Table:
    return SQLModel.metadata.tables[str(JobRow.__tablename__)]


# Version -> the change that brings a database from the version before up to it.
MIGRATIONS: dict[int, Callable[[Session], None]] = {2: add_lease_columns}


def upgrade(session: Session) -> None:
    current = session.get(SchemaVersionRow, 1)
    if current is None:  # a new database: create_all has just made the current schema
        session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
        session.commit()
        return
    if current.version > SCHEMA_VERSION:
        raise DatabaseError(f"the database has schema version {current.version}, newer than this "
                            f"whisper-api understands ({SCHEMA_VERSION}); upgrade whisper-api")
    for version in range(current.version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](session)
        current.version = version
        session.add(current)
        session.commit()
