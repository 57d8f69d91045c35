"""One open session per instrument: the check a START passes and the row it claims.

An instrument has an open session when ``session_log`` holds a START of it whose status still
allows an END (:data:`ENDABLE`) and whose ``session_identifier`` has no END row. This *exact
check* reads ``session_log`` itself on every start, so it sees the sessions of every writer:
NexusLIMS's API, the NEMO harvester, an older logger, a hand edit. NexusLIMS's table has no index
on ``instrument`` and nexus-logger adds none to it, so the check reads the whole table; the cost
at 100,000 sessions is in docs/performance.md.

Three things together make a second open session impossible:

1. writers of an instrument are serialised (:func:`lock_instrument`: ``BEGIN IMMEDIATE`` on
   SQLite holds the database's write lock; a transaction-scoped advisory lock on PostgreSQL), so
   nothing commits between a START's check and its insert;
2. the START inserts a row into ``nexus_logger_open_session`` (primary key: the instrument) in
   the same transaction, and its END deletes it: the database itself refuses a second claim, even
   from a writer that skipped the lock;
3. a claim whose session the exact check no longer finds open (ended or closed by another
   writer) is stale and is removed by the next START, which logs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, select

from nexus_logger.core import timestamps
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.instrument_lock import lock_instrument
from nexus_logger.core.logger_tables import open_session as claims
from nexus_logger.core.logger_tables import table_exists
from nexus_logger.core.models import SessionLogEntry

__all__ = [
    "ENDABLE",
    "Claim",
    "LoggedSession",
    "claim",
    "current_claim",
    "drop_stale_claim",
    "lock_instrument",
    "open_start_rows",
    "overlapping_sessions",
    "release",
]

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__
_E = _T.alias("e")
_S = _T.alias("s")
_START = EventType.START.value
_END = EventType.END.value

#: START statuses after which an END may still be written: the normal WAITING_FOR_END, and
#: TO_BE_BUILT without END (a broken state that stops NexusLIMS's build run; ending repairs it).
ENDABLE = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

# Built once: building a SQLAlchemy expression costs more client CPU than its round trip.
_OPEN_STARTS = (
    select(_T.c.id_session_log, _T.c.session_identifier, _T.c.user, _T.c.timestamp)
    .where(
        _T.c.instrument == bindparam("pid"),
        _T.c.event_type == _START,
        _T.c.record_status.in_(ENDABLE),
        # Probed through NexusLIMS's index on session_identifier, for the few rows left.
        ~exists().where(
            _E.c.session_identifier == _T.c.session_identifier, _E.c.event_type == _END
        ),
    )
    .order_by(_T.c.id_session_log.desc())
)
_CLAIM_OF = select(claims.c.session_identifier, claims.c.user, claims.c.started, claims.c.hostname)
_CLAIM_BY_PID = _CLAIM_OF.where(claims.c.instrument == bindparam("pid"))
_RELEASE = delete(claims).where(claims.c.session_identifier == bindparam("ident"))
_INSERT_CLAIM = insert(claims)
# Finished sessions of an instrument whose END is not older than ``floor`` (ISO text sorts by
# date within a few hours' offset; the exact comparison is made on parsed times).
_ENDED_SINCE = (
    select(_S.c.session_identifier, _S.c.user, _S.c.timestamp.label("start"), _E.c.timestamp)
    .join(_S, _S.c.session_identifier == _E.c.session_identifier)
    .where(
        _E.c.event_type == _END,
        _E.c.instrument == bindparam("pid"),
        _E.c.timestamp >= bindparam("floor"),
        _S.c.event_type == _START,
        _S.c.session_identifier != bindparam("exclude"),
    )
)


@dataclass(frozen=True)
class Claim:
    """The claim row of an instrument: who started its open session, when, on which PC."""

    session_identifier: str
    user: str | None
    started: str
    hostname: str | None


@dataclass(frozen=True)
class LoggedSession:
    """A finished session that overlaps a time span (see :func:`overlapping_sessions`)."""

    session_identifier: str
    user: str | None
    start_text: str
    end_text: str | None


def open_start_rows(conn: Connection, instrument_pid: str) -> list[Any]:
    """The instrument's open START rows, newest first (normally none or one): the exact check.

    Rows have ``id_session_log``, ``session_identifier``, ``user`` and ``timestamp``. Writers call
    it under :func:`lock_instrument`, so the answer cannot change before they write.
    """
    return list(conn.execute(_OPEN_STARTS, {"pid": instrument_pid}).all())


def current_claim(conn: Connection, instrument_pid: str) -> Claim | None:
    """The claim row of the instrument, if there is one (and the table exists)."""
    if not table_exists(conn, claims):
        return None
    row = conn.execute(_CLAIM_BY_PID, {"pid": instrument_pid}).first()
    return Claim(*row) if row is not None else None


def drop_stale_claim(conn: Connection, instrument_pid: str, open_idents: set[str]) -> None:
    """Remove the instrument's claim when the exact check does not find its session open."""
    found = current_claim(conn, instrument_pid)
    if found is not None and found.session_identifier not in open_idents:
        conn.execute(_RELEASE, {"ident": found.session_identifier})
        _logger.warning(
            "Removed the stale open-session claim of %s on %s: the session was ended or "
            "closed by another writer",
            found.session_identifier,
            instrument_pid,
        )


def claim(
    conn: Connection,
    *,
    instrument_pid: str,
    session_identifier: str,
    user: str | None,
    started: str,
    hostname: str,
) -> None:
    """Insert the instrument's claim row (the table must exist: ``ensure_tables``)."""
    conn.execute(
        _INSERT_CLAIM,
        {
            "instrument": instrument_pid,
            "session_identifier": session_identifier,
            "user": user,
            "started": started,
            "hostname": hostname[:255],
        },
    )


def release(conn: Connection, session_identifier: str) -> None:
    """Delete the claim of a session that is ending (no-op when it has none)."""
    if table_exists(conn, claims):
        conn.execute(_RELEASE, {"ident": session_identifier})


def overlapping_sessions(
    conn: Connection,
    instrument_pid: str,
    tz: str,
    since: datetime,
    until: datetime | None,
    *,
    exclude: str,
) -> list[LoggedSession]:
    """Finished sessions of the instrument that ran during ``since``..``until`` (None: now).

    Open sessions are the exact check's business. A session overlaps when it started before
    ``until`` and ended after ``since``.
    """
    floor = (since - timedelta(days=1)).date().isoformat()
    rows = conn.execute(
        _ENDED_SINCE, {"pid": instrument_pid, "floor": floor, "exclude": exclude}
    ).all()
    found = []
    for row in rows:
        try:
            began = timestamps.parse(row.start, tz)
            ended = timestamps.parse(row.timestamp, tz)
        except timestamps.TimestampError:
            continue
        if (until is None or began < until) and ended > since:
            found.append(LoggedSession(row.session_identifier, row.user, row.start, row.timestamp))
    return found
