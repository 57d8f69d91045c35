"""Tables nexus-logger owns in the shared database: station, heartbeat, note, open session, PC.

They live in their own :class:`~sqlalchemy.MetaData`, apart from ``models.metadata``, so that
``init-db`` keeps creating exactly the NexusLIMS 2.8 schema. Every name starts with
:data:`~nexus_logger.core.db.schema.LOGGER_TABLE_PREFIX`; NexusLIMS ignores tables it does not know,
and nothing here ever alters NexusLIMS's own tables or adds indexes to them (the one index
nexus-logger puts on ``session_log``, on PostgreSQL only: :mod:`open_start_index`).

The tables are created lazily, the first time something is written to them, with
``CREATE TABLE`` guarded by a check (``checkfirst``) inside a write transaction: ``BEGIN
IMMEDIATE`` serialises the creators on SQLite, an advisory lock does it on PostgreSQL. Reading
never creates anything: a missing table reads as empty, so a read-only account can still look.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

from nexus_logger.core.db.engine import engine_info, write_transaction
from nexus_logger.core.db.schema import LOGGER_TABLE_PREFIX

_logger = logging.getLogger(__name__)

metadata = MetaData()

#: Which instrument a PC controls: one row per host name (stored case-folded), written by
#: ``nexus-logger station set``. Replaces ``instruments.computer_name``, which NexusLIMS 2.5
#: dropped from its own table.
station = Table(
    f"{LOGGER_TABLE_PREFIX}station",
    metadata,
    Column("hostname", String(255), primary_key=True),
    Column("instrument_pid", String(100), nullable=False),
    Column("updated", String, nullable=False),  # aware ISO-8601 (UTC)
    Column("updated_by", String(255)),
)

#: The last time an open session was known to be alive (one row per session, overwritten).
heartbeat = Table(
    f"{LOGGER_TABLE_PREFIX}heartbeat",
    metadata,
    Column("session_identifier", String(36), primary_key=True),
    Column("instrument", String(100), nullable=False),
    Column("last_alive", String, nullable=False),  # aware ISO-8601 in the instrument's zone
    Column("hostname", String(255)),
)

#: A free-text note per session (what was done, which sample), editable until the session ends.
note = Table(
    f"{LOGGER_TABLE_PREFIX}note",
    metadata,
    Column("session_identifier", String(36), primary_key=True),
    Column("note", Text, nullable=False),
    Column("updated", String, nullable=False),  # aware ISO-8601 in the instrument's zone
)

#: One row per instrument: its open session as nexus-logger started it (the claim), and the time
#: its last session ended. The START fills the claim and the END empties it, each in the same
#: transaction as its row in ``session_log`` (see :mod:`~nexus_logger.core.sessions.open_rule`).
open_session = Table(
    f"{LOGGER_TABLE_PREFIX}open_session",
    metadata,
    Column("instrument", String(100), primary_key=True),
    Column("session_identifier", String(36), unique=True),  # NULL: no claim
    Column("user", String(50)),
    Column("started", String),  # the START's timestamp, as stored
    Column("hostname", String(255)),
    Column("last_end", String),  # the END of the session before, as stored
)

#: What each instrument PC last reported about itself (the Admin tab's Fleet page and
#: ``nexus-logger fleet``): one row per host name, written at launch, with each heartbeat and
#: by ``sync``. A table of its own rather than new columns on the station or heartbeat tables,
#: so older PCs, which do not know it, keep writing theirs unchanged (they are listed from
#: those tables, as "reports nothing").
pc_report = Table(
    f"{LOGGER_TABLE_PREFIX}pc",
    metadata,
    Column("hostname", String(255), primary_key=True),  # case-folded, as in the station table
    Column("instrument", String(100), nullable=False),
    Column("version", String(40), nullable=False),
    Column("reported", String, nullable=False),  # the PC's clock, aware ISO-8601 (UTC)
    Column("clock_offset_seconds", Float),  # PC clock minus server clock (None: SQLite)
    Column("waiting_events", Integer, nullable=False),
    Column("db_account", String(255)),  # session_user on PostgreSQL (None: SQLite)
    Column("os_login", String(255)),
    Column("session_identifier", String(36)),  # the session running on that PC, if any
)

_CACHE_KEY = "nexus_logger_tables_present"
#: First key of every advisory lock nexus-logger takes on PostgreSQL ("NX"), so that its locks
#: never collide with another application's.
ADVISORY_NAMESPACE = 0x4E58


def advisory_key(name: str) -> int:
    """A stable signed 32-bit key for ``name`` (the same in every process and on every OS)."""
    value = zlib.crc32(name.encode("utf-8"))
    return value - (1 << 32) if value >= (1 << 31) else value


def advisory_lock(conn: Connection, name: str) -> None:
    """Take a transaction-scoped PostgreSQL advisory lock on ``name`` (no-op on SQLite).

    On SQLite the write transaction's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": ADVISORY_NAMESPACE, "key": advisory_key(name)},
        )


def _present(engine: Engine) -> set[str]:
    return engine_info(engine).setdefault(_CACHE_KEY, set())


def table_exists(conn: Connection, table: Table) -> bool:
    """True when ``table`` exists (positive answers are cached per engine)."""
    present = _present(conn.engine)
    if table.name in present:
        return True
    if inspect(conn).has_table(table.name):
        present.add(table.name)
        return True
    return False


def ensure_tables(engine: Engine, tables: Iterable[Table], *, meta: MetaData | None = None) -> None:
    """Create the given logger-owned tables if they do not exist yet (once per engine).

    ``meta`` is the MetaData the tables belong to (this module's by default); other modules
    (the admin audit table) may pass their own.
    """
    wanted = [t for t in tables if t.name not in _present(engine)]
    if not wanted:
        return
    for table in wanted:
        if not table.name.startswith(LOGGER_TABLE_PREFIX):
            raise ValueError(f"{table.name} is not a logger-owned table name")
    with write_transaction(engine) as conn:
        advisory_lock(conn, "nexus_logger:ddl")
        (meta or metadata).create_all(conn, tables=wanted, checkfirst=True)
    _present(engine).update(t.name for t in wanted)
    _logger.debug("Logger tables present: %s", ", ".join(t.name for t in wanted))


def ensure_in_transaction(conn: Connection, tables: Iterable[Table]) -> None:
    """Create missing logger-owned tables inside the caller's write transaction.

    For a table that only a write creates, so that a write that is refused (a START while a
    session is open) leaves the database exactly as it was. Serialised like
    :func:`ensure_tables`; the table counts as present once the transaction commits.
    """
    wanted = [t for t in tables if not table_exists(conn, t)]
    if not wanted:
        return
    advisory_lock(conn, "nexus_logger:ddl")
    metadata.create_all(conn, tables=wanted, checkfirst=True)
