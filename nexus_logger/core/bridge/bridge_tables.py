"""The bridge's own bookkeeping tables, and the one row format both databases share.

Nothing here touches NexusLIMS's tables. Two tables live in *both* databases (the bridge
writes each copy in the same transaction as the rows it copies into that database):

* ``nexus_logger_bridge_ledger``: one row per bridged session, the last point at which the
  two sides were known to agree: a fingerprint of the session's rows in PostgreSQL
  (``pg_fp``) and in NexusLIMS's file (``sq_fp``), numbered by ``gen`` (the higher number is
  the newer agreement, whichever database holds it).

PostgreSQL only: ``nexus_logger_bridge_rg`` (which RECORD_GENERATION row of the file became
which PostgreSQL row), ``nexus_logger_bridge_state`` (last run, last error, what waits: what
the Admin tab and ``bridge --status`` show) and ``nexus_logger_bridge_conflict``. The file
only: ``nexus_logger_bridge_meta`` (the file's identity, so a PostgreSQL database is never
bridged to two different files by mistake).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.schema import LOGGER_TABLE_PREFIX

bridge_metadata = MetaData()

ledger = Table(
    f"{LOGGER_TABLE_PREFIX}bridge_ledger",
    bridge_metadata,
    Column("session_identifier", String(36), primary_key=True),
    Column("gen", Integer, nullable=False),
    Column("pg_fp", String(64), nullable=False),  # "" = the session was absent there
    Column("sq_fp", String(64), nullable=False),
    Column("at", String, nullable=False),  # aware ISO-8601, UTC
    Column("how", String(40), nullable=False),  # copied_in, copied_out, adopted, resolved
)

rg_map = Table(
    f"{LOGGER_TABLE_PREFIX}bridge_rg",
    bridge_metadata,
    Column("file_id", String(36), nullable=False),
    Column("sqlite_id", Integer, nullable=False),
    Column("session_identifier", String(36), nullable=False),
    Column("pg_id", Integer, nullable=False),
    PrimaryKeyConstraint("file_id", "sqlite_id"),
)

state = Table(
    f"{LOGGER_TABLE_PREFIX}bridge_state",
    bridge_metadata,
    Column("name", String(40), primary_key=True),  # always "bridge"
    Column("file_id", String(36)),
    Column("file_path", Text),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("last_run_at", String),
    Column("last_success_at", String),
    Column("last_error", Text),
    Column("last_error_at", String),
    Column("waiting_in", Integer),
    Column("waiting_out", Integer),
    Column("in_progress", Integer),
    Column("summary", Text),
)

conflict = Table(
    f"{LOGGER_TABLE_PREFIX}bridge_conflict",
    bridge_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_identifier", String(36), nullable=False),
    Column("found_at", String, nullable=False),
    Column("pg_fp", String(64), nullable=False),
    Column("sq_fp", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("resolved_at", String),
    Column("resolved_by", String(255)),
    Column("kept", String(20)),  # postgres | nexuslims
    UniqueConstraint("session_identifier", "pg_fp", "sq_fp"),
)

meta = Table(
    f"{LOGGER_TABLE_PREFIX}bridge_meta",
    bridge_metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

PG_TABLES = (ledger, rg_map, state, conflict)
SQLITE_TABLES = (ledger, meta)

STATE_KEY = "bridge"


@dataclass(frozen=True)
class LedgerEntry:
    """One agreement point: the session looked like ``pg_fp`` and ``sq_fp`` at ``gen``."""

    session_identifier: str
    gen: int
    pg_fp: str
    sq_fp: str
    at: str
    how: str

    def values(self) -> dict[str, Any]:
        return {
            "session_identifier": self.session_identifier,
            "gen": self.gen,
            "pg_fp": self.pg_fp,
            "sq_fp": self.sq_fp,
            "at": self.at,
            "how": self.how,
        }


#: The columns a fingerprint covers, in its order (part of every stored fingerprint: keep it).
_FP_KEYS = ("event_type", "timestamp", "user", "instrument", "record_status")


def fingerprint(rows: Iterable[Mapping[str, Any]]) -> str:
    """A digest of a session's rows that is the same in both databases for the same content.

    Row ids are left out (they differ between the databases); ``""`` means no rows at all.
    """
    lines = sorted(
        ["\x1f".join(["\x00" if (v := r[k]) is None else str(v) for k in _FP_KEYS]) for r in rows]
    )
    if not lines:
        return ""
    return hashlib.sha256("\x1e".join(lines).encode("utf-8")).hexdigest()[:32]


def read_ledger(conn: Connection) -> dict[str, LedgerEntry]:
    """Every ledger row of this database (empty when the table does not exist yet)."""
    if not table_exists(conn, ledger):
        return {}
    columns = (ledger.c.session_identifier, ledger.c.gen, ledger.c.pg_fp, ledger.c.sq_fp)
    rows = conn.execute(select(*columns, ledger.c.at, ledger.c.how)).all()
    return {sid: LedgerEntry(sid, int(gen), pg, sq, at, how) for sid, gen, pg, sq, at, how in rows}


def upsert_ledger(conn: Connection, entries: Iterable[LedgerEntry]) -> None:
    """Write ledger rows; an existing row is replaced only by a newer ``gen``."""
    rows = [e.values() for e in entries]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(ledger)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ledger.c.session_identifier],
        set_={c: stmt.excluded[c] for c in ("gen", "pg_fp", "sq_fp", "at", "how")},
        where=ledger.c.gen < stmt.excluded.gen,
    )
    conn.execute(stmt, rows)  # executemany: compiled once (psycopg pipelines it)
