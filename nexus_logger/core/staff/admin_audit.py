"""The audit trail of admin actions: the logger-owned table ``nexus_logger_audit``, appending a
row chained to the one before it, checking that chain, and reading the trail back."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
)

from nexus_logger.core import timestamps
from nexus_logger.core.db.database_key import database_key
from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.logger_tables import advisory_lock, ensure_tables, table_exists
from nexus_logger.core.db.logger_tables import metadata as lifecycle_metadata
from nexus_logger.core.db.schema import LOGGER_TABLE_PREFIX, require_usable
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.staff import audit_chain

_logger = logging.getLogger(__name__)

audit_metadata = MetaData()

#: One row per admin action: who ran it, when, on which session, and the rows before/after
#: (JSON lists of ``session_log`` rows). Only ever inserted into, never updated.
audit_table = Table(
    f"{LOGGER_TABLE_PREFIX}audit",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String, nullable=False),  # aware ISO-8601, UTC
    Column("login", String(255), nullable=False),  # real OS account of the administrator
    Column("db_account", String(63)),  # PostgreSQL session_user (set by the server); NULL on SQLite
    Column("hostname", String(255)),
    Column("action", String(40), nullable=False),
    Column("session_identifier", String(36), nullable=False),
    Column("summary", Text, nullable=False),
    Column("before", Text, nullable=False),  # JSON list of rows as they were
    Column("after", Text, nullable=False),  # JSON list of rows as they are now
    Column("prev_hash", String(64)),  # row_hash of the row before (audit_chain)
    Column("row_hash", String(64)),  # SHA-256 over prev_hash and this row's content
)

#: Columns added after the first release; :func:`ensure_audit_table` adds them to old tables.
_LATER_COLUMNS = ("db_account", "prev_hash", "row_hash")


@dataclass(frozen=True)
class AuditEntry:
    """One row of ``nexus_logger_audit``."""

    id: int
    #: When, as stored; ``None`` when the stored text is not a readable time (edited by
    #: hand: the chain check says so), never a made-up date.
    at: datetime | None
    login: str
    hostname: str | None
    action: str
    session_identifier: str
    summary: str
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    db_account: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "id": self.id,
            "at": self.at.isoformat() if self.at else None,
            "login": self.login,
            "db_account": self.db_account,
            "hostname": self.hostname,
            "action": self.action,
            "session_identifier": self.session_identifier,
            "summary": self.summary,
            "before": self.before,
            "after": self.after,
        }


def rows_json(rows: list[dict[str, Any]]) -> str:
    """Rows as the audit table stores them (JSON, keys sorted)."""
    return json.dumps(rows, ensure_ascii=False, sort_keys=True)


def ensure_audit_table(engine: EngineLike = None) -> None:
    """Create ``nexus_logger_audit`` if it does not exist yet, or add the columns it lacks.

    On PostgreSQL the application roles may not alter tables: an old table there is brought
    up to date by the owner with ``nexus-logger admin postgres-roles``.
    """
    eng = get_engine(engine)
    ensure_tables(eng, [audit_table], meta=audit_metadata)
    with read_connection(eng) as conn:
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
    missing = [c for c in _LATER_COLUMNS if c not in have]
    if not missing:
        return
    if eng.dialect.name == "postgresql":
        raise NexusLoggerError(
            f"The audit table of {describe(eng)} lacks the columns {', '.join(missing)}; "
            "nothing was changed. Run the script of 'nexus-logger admin postgres-roles' as the "
            "tables' owner to bring it up to date."
        )
    with write_transaction(eng) as conn:
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        for name in missing:
            if name not in have:
                column = audit_table.c[name]
                ddl = f"ALTER TABLE {audit_table.name} ADD COLUMN {name} VARCHAR({column.type.length})"
                conn.execute(text(ddl))


def create_logger_tables(engine: EngineLike = None) -> list[str]:
    """Create every logger-owned table now (station, heartbeat, note, audit); returns names.

    For a PostgreSQL setup where the instrument PCs' role may not create tables: the owner
    runs this once (``nexus-logger admin create-tables``) before granting rights on them.
    """
    eng = get_engine(engine)
    require_usable(eng)
    ensure_tables(eng, list(lifecycle_metadata.sorted_tables))
    ensure_audit_table(eng)
    return [t.name for t in (*lifecycle_metadata.sorted_tables, audit_table)]


def append_audit_row(conn: Connection, values: dict[str, Any]) -> int:
    """Insert one audit row chained to the one before it (:mod:`audit_chain`); its id.

    ``values`` holds every column but ``id``, ``prev_hash`` and ``row_hash``; the caller's
    transaction makes the row commit with the change it describes.
    """
    advisory_lock(conn, "nexus_logger:audit")  # one chain: its writers take turns
    # Chained to the newest row nexus-logger wrote (one with a hash): after a row added by
    # hand without one, a new row chained to nothing was itself blamed as "does not follow
    # the row before it" (staff trial); the check names the hand-made row alone then.
    hashed = audit_table.c.row_hash.is_not(None) & (audit_table.c.row_hash != "")
    last = conn.execute(
        select(audit_table.c.id, audit_table.c.row_hash)
        .where(hashed)
        .order_by(audit_table.c.id.desc())
        .limit(1)
    ).first()
    values["prev_hash"] = last.row_hash if last is not None else None
    values["row_hash"] = audit_chain.row_hash(values)
    result = conn.execute(insert(audit_table).values(**values))
    return int(result.inserted_primary_key[0])


def db_account(conn: Connection) -> str | None:
    """The account the server knows this connection by (None on SQLite: a file knows none)."""
    if conn.dialect.name != "postgresql":
        return None
    return str(conn.execute(text("SELECT session_user")).scalar_one())


def check_audit_chain(engine: EngineLike = None) -> audit_chain.ChainReport:
    """Check the audit trail's hash chain and this PC's anchor; an intact chain moves it on."""
    eng = get_engine(engine)
    with read_connection(eng) as conn:
        if not table_exists(conn, audit_table):
            return audit_chain.ChainReport(0, None, None)
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        if "row_hash" not in have:
            return audit_chain.ChainReport(0, None, None)
        rows = [
            dict(r) for r in conn.execute(select(audit_table).order_by(audit_table.c.id)).mappings()
        ]
    key = database_key(eng)
    report = audit_chain.verify_rows(rows, audit_chain.load_anchor(key))
    audit_chain.save_anchor(key, report)
    if not report.ok:
        _logger.warning("Audit trail of %s: %s", describe(eng), " ".join(report.problems))
    return report


def list_audit(
    *,
    session_identifier: str | None = None,
    limit: int | None = 500,
    engine: EngineLike = None,
) -> list[AuditEntry]:
    """Audit rows, newest first (empty when no admin action was ever run: nothing is created)."""
    eng = get_engine(engine)
    with read_connection(eng) as conn:
        if not table_exists(conn, audit_table):
            return []
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        stmt = select(*(c for c in audit_table.columns if c.name in have))
        stmt = stmt.order_by(audit_table.c.id.desc())
        if session_identifier:
            stmt = stmt.where(audit_table.c.session_identifier == session_identifier)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = conn.execute(stmt).mappings().all()
    out = []
    for row in rows:
        at: datetime | None
        try:
            at = timestamps.parse(row["at"])
        except timestamps.TimestampError:
            at = None
        out.append(
            AuditEntry(
                id=int(row["id"]),
                at=at,
                login=row["login"],
                db_account=row.get("db_account"),
                hostname=row["hostname"],
                action=row["action"],
                session_identifier=row["session_identifier"],
                summary=row["summary"],
                before=_loads(row["before"]),
                after=_loads(row["after"]),
            )
        )
    return out


def _loads(text: str | None) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []
