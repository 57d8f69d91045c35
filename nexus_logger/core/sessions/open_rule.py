"""One open session per instrument: the check a START passes and the row it claims.

An instrument has an open session when ``session_log`` holds a START of it whose status still
allows an END (:data:`ENDABLE`) and whose ``session_identifier`` has no END row. This *exact
check* reads ``session_log`` itself on every start, so it sees the sessions of every writer:
NexusLIMS's API, the NEMO harvester, an older logger, a hand edit. NexusLIMS's table has no index
on ``instrument``: on SQLite the check reads the whole table; on PostgreSQL the partial index of
:mod:`~nexus_logger.core.db.open_start_index` (where the server has it) holds just the STARTs
that may be open. The costs at 100,000 sessions are in docs/performance.md.

Three things together make a second open session impossible:

1. writers of an instrument are serialised (:func:`lock_instrument`: ``BEGIN IMMEDIATE`` on
   SQLite holds the database's write lock; a transaction-scoped advisory lock on PostgreSQL), so
   nothing commits between a START's check and its insert;
2. the START claims the instrument's row in ``nexus_logger_open_session`` in the same
   transaction (an INSERT, or an UPDATE that must find the row unclaimed), and its END frees
   it: the database itself refuses a second claim, even from a writer that skipped the lock;
3. a claim whose session the exact check no longer finds open (ended or closed by another
   writer) is stale and is freed by the next START, which logs it.

The row also keeps when the instrument's last session ended, so that a START made just after
(its time read a moment before the lock was free, or on a PC whose clock is behind) never
begins before that END: the sessions would overlap by those seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from nexus_logger.core import timestamps
from nexus_logger.core.db.instrument_lock import (
    holds_instrument_lock,
    lock_and_read,
    lock_instrument,
)
from nexus_logger.core.db.logger_tables import open_session as claims
from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.models import session_log
from nexus_logger.core.db.open_start_index import ENDABLE
from nexus_logger.core.db.pipeline import Statement
from nexus_logger.core.enums import EventType
from nexus_logger.core.errors import Conflict

__all__ = [
    "ENDABLE",
    "Claim",
    "LoggedSession",
    "check_claimed",
    "check_under_lock",
    "claim_statement",
    "current_claim",
    "claim_row",
    "drop_stale_claim",
    "last_end",
    "lock_instrument",
    "open_start_rows",
    "overlapping_sessions",
    "release",
    "release_statement",
]

_logger = logging.getLogger(__name__)

_T = session_log
_E = _T.alias("e")
_S = _T.alias("s")
_START = EventType.START.value
_END = EventType.END.value


# What makes a row a START that may still be open. The status comes first: a full scan tests
# the terms in this order, and the status alone turns away almost every row of a long history
# (COMPLETED), where the instrument turns away none on a single-instrument database (SQLite:
# 35 against 48 ms for 300,000 rows on the benchmark machine, docs/performance.md).
# The statuses and the event type are constants in the SQL (from the enums, never input), so
# that PostgreSQL matches the statement to the partial index of core/db/open_start_index.py
# even with a generic plan of a prepared statement; bound, they hid it (111-125 ms instead of
# 1 ms under plan_cache_mode = force_generic_plan). Equalities, not IN: the statement is also
# sent in a pipeline (core/db/pipeline.py), which takes no expanding parameters.
_OPEN_START = and_(
    or_(*(_T.c.record_status == literal_column(f"'{status}'") for status in ENDABLE)),
    _T.c.event_type == literal_column(f"'{_START}'"),
    _T.c.instrument == bindparam("pid"),
)
# Built once: building a SQLAlchemy expression costs more client CPU than its round trip.
# One statement, the same on every backend: one scan for the instrument's STARTs that could
# still be open (a handful in a long history), each with whether it has an END, looked up
# through NexusLIMS's index on session_identifier. A scalar subquery in the column list runs
# once per candidate row; as a NOT EXISTS condition PostgreSQL would hash every END row.
_END_OF_CANDIDATE = (
    select(_E.c.id_session_log)
    .where(_E.c.session_identifier == _T.c.session_identifier, _E.c.event_type == _END)
    .limit(1)
    .scalar_subquery()
)
_CANDIDATES = (
    select(
        _T.c.id_session_log,
        _T.c.session_identifier,
        _T.c.user,
        _T.c.timestamp,
        _END_OF_CANDIDATE.label("end_id"),
    )
    .where(_OPEN_START)
    .order_by(_T.c.id_session_log.desc())
)
# SQLite runs in-process, where a second statement costs no round trip: the scan alone, then
# the candidates' ENDs by identifier, is faster there than a subquery in the scan.
_CANDIDATES_ONLY = (
    select(_T.c.id_session_log, _T.c.session_identifier, _T.c.user, _T.c.timestamp)
    .where(_OPEN_START)
    .order_by(_T.c.id_session_log.desc())
)
#: Identifiers per ``IN (...)`` (old SQLite builds allow 999 bound values per statement).
_BATCH = 500
_ENDED = select(_E.c.session_identifier).where(
    _E.c.session_identifier.in_(bindparam("idents", expanding=True)), _E.c.event_type == _END
)
_CLAIM_ROW = select(
    claims.c.session_identifier,
    claims.c.user,
    claims.c.started,
    claims.c.hostname,
    claims.c.last_end,
).where(claims.c.instrument == bindparam("pid"))
_LAST_END = select(claims.c.last_end).where(claims.c.instrument == bindparam("pid"))
_FREE = {"session_identifier": None, "user": None, "started": None, "hostname": None}
_INSERT_CLAIM = insert(claims)
_TAKE_CLAIM = (
    update(claims)
    .where(claims.c.instrument == bindparam("pid"), claims.c.session_identifier.is_(None))
    .values(
        session_identifier=bindparam("session_identifier"),
        user=bindparam("user"),
        started=bindparam("started"),
        hostname=bindparam("hostname"),
    )
)
_RELEASE = update(claims).where(claims.c.session_identifier == bindparam("ident")).values(**_FREE)
_RELEASE_AT_END = _RELEASE.values(last_end=bindparam("last_end"))
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
    if conn.dialect.name == "sqlite":
        candidates = conn.execute(_CANDIDATES_ONLY, {"pid": instrument_pid}).all()
        idents = sorted({r.session_identifier for r in candidates})
        ended: set[str] = set()
        for i in range(0, len(idents), _BATCH):  # (many when NexusLIMS has not built for a while)
            ended.update(conn.execute(_ENDED, {"idents": idents[i : i + _BATCH]}).scalars())
        return [r for r in candidates if r.session_identifier not in ended]
    if conn.dialect.name == "postgresql" and not holds_instrument_lock(conn, instrument_pid):
        # A reader without the lock (which switches them off for writers): one small result
        # from a plain scan, so no parallel workers, for this transaction only.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    return [r for r in conn.execute(_CANDIDATES, {"pid": instrument_pid}) if r.end_id is None]


def check_under_lock(conn: Connection, instrument_pid: str) -> tuple[list[Any], Any]:
    """Take the instrument's lock; its open START rows (:func:`open_start_rows`) and claim row.

    What a START reads before it writes. On PostgreSQL the lock, the exact check and the claim
    row are one round trip (:func:`~nexus_logger.core.db.instrument_lock.lock_and_read`).
    """
    if conn.dialect.name != "postgresql" or holds_instrument_lock(conn, instrument_pid):
        lock_instrument(conn, instrument_pid)
        return open_start_rows(conn, instrument_pid), claim_row(conn, instrument_pid)
    reads = [(_CANDIDATES, {"pid": instrument_pid})]
    if table_exists(conn, claims):
        reads.append((_CLAIM_ROW, {"pid": instrument_pid}))
    candidates, *claimed = lock_and_read(conn, instrument_pid, reads)
    claim_rows = claimed[0].rows if claimed else []
    open_rows = [r for r in candidates.rows if r.end_id is None]
    return open_rows, claim_rows[0] if claim_rows else None


def claim_row(conn: Connection, instrument_pid: str) -> Row[Any] | None:
    """The instrument's row in the claim table, free or not (``None``: no row, or no table).

    Columns: ``session_identifier`` (``None`` when free), ``user``, ``started``, ``hostname``,
    ``last_end``. A START reads it once and hands it to :func:`drop_stale_claim`,
    :func:`claim` and :func:`last_end` (one round trip instead of three).
    """
    if not table_exists(conn, claims):
        return None
    return conn.execute(_CLAIM_ROW, {"pid": instrument_pid}).first()


#: "The caller has not read the claim row in this transaction" (``None`` means: there is none).
UNREAD: Any = object()


def current_claim(conn: Connection, instrument_pid: str, row: Any = UNREAD) -> Claim | None:
    """The claim of the instrument, if it is claimed (``row``: its :func:`claim_row`, if read)."""
    if row is UNREAD:
        row = claim_row(conn, instrument_pid)
    if row is None or row.session_identifier is None:
        return None
    return Claim(row.session_identifier, row.user, row.started, row.hostname)


def drop_stale_claim(
    conn: Connection, instrument_pid: str, open_idents: set[str], row: Any = UNREAD
) -> None:
    """Free the instrument's claim when the exact check does not find its session open."""
    found = current_claim(conn, instrument_pid, row)
    if found is not None and found.session_identifier not in open_idents:
        conn.execute(
            update(claims)
            .where(claims.c.session_identifier == found.session_identifier)
            .values(**_FREE)
        )
        _logger.warning(
            "Freed the stale open-session claim of %s on %s: the session was ended or "
            "closed by another writer",
            found.session_identifier,
            instrument_pid,
        )


def claim_statement(
    *,
    instrument_pid: str,
    session_identifier: str,
    user: str | None,
    started: str,
    hostname: str,
    row: Any,
) -> Statement:
    """The statement that claims the instrument for a START (the table must exist).

    ``row``: the instrument's :func:`claim_row`, read earlier in this transaction under the
    instrument's lock; whether it exists decides between INSERT and UPDATE. Either must change
    exactly one row (:func:`check_claimed`): the INSERT breaks the primary key, and the UPDATE
    finds no unclaimed row, when the instrument is claimed already.
    """
    values = {
        "session_identifier": session_identifier,
        "user": user,
        "started": started,
        "hostname": hostname[:255],
    }
    if row is None:
        return _INSERT_CLAIM, {"instrument": instrument_pid, "last_end": None, **values}
    return _TAKE_CLAIM, {"pid": instrument_pid, **values}


def check_claimed(instrument_pid: str, rowcount: int) -> None:
    """:class:`~errors.Conflict` unless the :func:`claim_statement` changed one row."""
    if rowcount != 1:
        raise Conflict(
            f"Another session was started on {instrument_pid} at the same moment, so this one "
            "was not written. Look at the instrument's state and try again."
        )


def release(conn: Connection, session_identifier: str, ended: str | None = None) -> None:
    """Free the claim of a session that is ending, remembering its END (no-op without claim)."""
    statement = release_statement(conn, session_identifier, ended)
    if statement is not None:
        conn.execute(*statement)


def release_statement(
    conn: Connection, session_identifier: str, ended: str | None = None
) -> tuple[Any, dict[str, str | None]] | None:
    """:func:`release` as a statement to send with others (``None``: there is no claim table)."""
    if not table_exists(conn, claims):
        return None
    if ended is None:
        return _RELEASE, {"ident": session_identifier}
    return _RELEASE_AT_END, {"ident": session_identifier, "last_end": ended}


def last_end(conn: Connection, instrument_pid: str, tz: str, row: Any = UNREAD) -> datetime | None:
    """When the instrument's last session ended, as nexus-logger recorded it (None: unknown)."""
    if row is not UNREAD:
        text = None if row is None else row.last_end
    elif not table_exists(conn, claims):
        return None
    else:
        text = conn.execute(_LAST_END, {"pid": instrument_pid}).scalar()
    return timestamps.parse_or_none(text, tz)


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
