"""Reading a session: its START and END rows, its heartbeat and note, and the open session of
an instrument as :class:`~nexus_logger.core.sessions.outcomes.OpenSession`.

The statements the lifecycle runs on every start and end are built here once: building a
SQLAlchemy expression costs more client CPU than the round trip it sends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.db.logger_tables import heartbeat as heartbeat_table
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.models import Instrument, session_log
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import EventType
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.inputs import stored_in_zone
from nexus_logger.core.sessions.instrument_lookup import known_instrument
from nexus_logger.core.sessions.local_heartbeat import local_heartbeat
from nexus_logger.core.sessions.outcomes import OpenSession
from nexus_logger.core.validation import clean_instrument

_logger = logging.getLogger(__name__)

__all__ = [
    "INSERT_EVENT",
    "RowView",
    "db_heartbeat",
    "db_note",
    "find_open_session",
    "latest",
    "open_session_of",
    "open_start_row",
    "split_start_and_end",
    "start_and_end_rows",
    "start_and_end_statement",
    "start_rows",
]

_T = session_log
_START = EventType.START.value
_END = EventType.END.value

_START_AND_END = (
    select(
        _T.c.id_session_log,
        _T.c.instrument,
        _T.c.user,
        _T.c.timestamp,
        _T.c.record_status,
        _T.c.event_type,
    )
    .where(
        _T.c.session_identifier == bindparam("ident"),
        or_(_T.c.event_type == _START, _T.c.event_type == _END),  # (plain binds: pipelines)
    )
    .order_by(_T.c.id_session_log)
)
#: One ``session_log`` row (a START or an END), its values given at execution.
INSERT_EVENT = insert(_T)


@dataclass(frozen=True)
class RowView:
    """The columns of a START row that :func:`open_session_of` reads."""

    session_identifier: str
    user: str | None
    timestamp: str


def open_start_row(conn: Connection, pid: str) -> Any:
    """The open START row of instrument ``pid`` (the exact check), or None."""
    rows = open_rule.open_start_rows(conn, pid)
    return rows[0] if rows else None


def start_rows(conn: Connection, ident: str) -> list[Any]:
    """The START rows of a session, in id order."""
    return start_and_end_rows(conn, ident)[0]


def start_and_end_rows(conn: Connection, ident: str) -> tuple[list[Any], list[Any]]:
    """START rows and END rows of a session, in id order, with one query (one round trip)."""
    return split_start_and_end(conn.execute(_START_AND_END, {"ident": ident}).all())


def start_and_end_statement(ident: str) -> tuple[Any, dict[str, str]]:
    """The statement of :func:`start_and_end_rows`, to be sent with others."""
    return _START_AND_END, {"ident": ident}


def split_start_and_end(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """The rows of :func:`start_and_end_statement` as (START rows, END rows)."""
    return [r for r in rows if r.event_type == _START], [r for r in rows if r.event_type == _END]


def db_heartbeat(conn: Connection, ident: str, tz: str) -> datetime | None:
    """The session's last-alive time in ``nexus_logger_heartbeat`` (None: none or unreadable)."""
    if not table_exists(conn, heartbeat_table):
        return None
    value = conn.execute(
        select(heartbeat_table.c.last_alive).where(heartbeat_table.c.session_identifier == ident)
    ).scalar()
    if value is None:
        return None
    try:
        return stored_in_zone(value, tz)
    except timestamps.TimestampError:
        _logger.warning("Unreadable heartbeat %r of session %s", value, ident)
        return None


def db_note(conn: Connection, ident: str) -> str | None:
    """The session's note in ``nexus_logger_note``, or None."""
    if not table_exists(conn, note_table):
        return None
    return conn.execute(
        select(note_table.c.note).where(note_table.c.session_identifier == ident)
    ).scalar()


def latest(*values: datetime | None) -> datetime | None:
    """The latest of the times given that are known (None when none is)."""
    present = [v for v in values if v is not None]
    # By real time: two times on one zone's clock compare by wall clock in Python.
    return max(present, key=lambda v: v.astimezone(UTC)) if present else None


def open_session_of(conn: Connection, row: Any, inst: Instrument) -> OpenSession:
    """The open session of a START ``row``, with its last heartbeat, note and PC."""
    tz = inst.timezone
    ident = row.session_identifier
    local = local_heartbeat(ident, tz)
    claimed = open_rule.current_claim(conn, inst.instrument_pid)
    return OpenSession(
        session_identifier=ident,
        instrument=inst,
        user=row.user,
        started=stored_in_zone(row.timestamp, tz),
        start_text=row.timestamp,
        last_heartbeat=latest(db_heartbeat(conn, ident, tz), local),
        note=db_note(conn, ident),
        hostname=claimed.hostname
        if claimed is not None and claimed.session_identifier == ident
        else None,
    )


def find_open_session(instrument_pid: str, *, engine: EngineLike = None) -> OpenSession | None:
    """The open session of an instrument (latest START without END), or None.

    Comes with its last heartbeat (the later of the database's and this PC's local file) and
    its note. Writes nothing: *Continue* in the resume dialog is just this.
    """
    eng = get_engine(engine)
    require_usable(eng)
    inst = known_instrument(eng, clean_instrument(instrument_pid))
    with read_connection(eng) as conn:
        row = open_start_row(conn, inst.instrument_pid)
        return open_session_of(conn, row, inst) if row is not None else None
