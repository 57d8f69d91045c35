"""Ending a session: the END row, START and END set to ``TO_BE_BUILT`` together (the row count
checked) and the claim released, in one transaction; and "end it and start a new one".

NexusLIMS's ``get_sessions_to_build()`` needs both rows TO_BE_BUILT with the same user, or it
stops the whole build run, so the END insert and the status change commit together or not at
all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, describe, get_engine, write_transaction
from nexus_logger.core.db.instrument_lock import (
    holds_instrument_lock,
    lock_and_read,
    lock_instrument,
)
from nexus_logger.core.db.logger_tables import ensure_tables
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.models import Instrument, session_log
from nexus_logger.core.db.pipeline import send_together
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import Conflict, InvalidInput, NotFound
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.inputs import (
    clean_identifier,
    clean_note,
    end_text_like_start,
    ends_before_start,
    session_user,
    stored_in_zone,
    stored_time,
)
from nexus_logger.core.sessions.instrument_lookup import known_instrument
from nexus_logger.core.sessions.local_heartbeat import forget_open_here
from nexus_logger.core.sessions.open_rule import ENDABLE
from nexus_logger.core.sessions.outcomes import EndedSession, NoOpenSession, StartResult
from nexus_logger.core.sessions.session_rows import (
    INSERT_EVENT,
    open_start_row,
    split_start_and_end,
    start_and_end_rows,
    start_and_end_statement,
)
from nexus_logger.core.sessions.starting import start_in_transaction
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules
from nexus_logger.core.validation import clean_instrument

_logger = logging.getLogger(__name__)

__all__ = ["check_end_time", "end_in_transaction", "end_session", "replace_session"]

_T = session_log
_START = EventType.START.value
_END = EventType.END.value
_WAITING = RecordStatus.WAITING_FOR_END.value
_TO_BE_BUILT = RecordStatus.TO_BE_BUILT.value

_QUEUE = (
    update(_T)
    .where(
        _T.c.session_identifier == bindparam("ident"),
        _T.c.event_type.in_((_START, _END)),
        _T.c.record_status == _WAITING,
    )
    .values(record_status=_TO_BE_BUILT)
)

#: Test seam: called with the connection between the END insert and the status update of
#: :func:`end_in_transaction`. Tests set it to inject a failure at the worst moment; it is
#: ``None`` in normal use.
_between_end_insert_and_status_update: Callable[[Connection], None] | None = None


def end_in_transaction(
    conn: Connection,
    *,
    session_identifier: str,
    at: datetime | None,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
    instrument_pid: str | None = None,
) -> EndedSession:
    """The END logic on an already-open write transaction (see :func:`end_session`).

    ``instrument_pid``: the session's instrument, when the caller knows it; its lock is then
    taken before the session's rows are read, which saves reading them twice on PostgreSQL.

    Inserts END (WAITING_FOR_END, the START's user), then sets START and END to TO_BE_BUILT
    with one UPDATE whose row count must be exactly what was read under the lock; any
    difference raises :class:`Conflict`, and the caller's transaction rolls everything back.

    A session that already has an END is not ended twice: it comes back with
    ``already_ended=True``. If that END was left half-done by the original logger (END
    written, statuses still WAITING_FOR_END, same user), the status change is finished here.
    Used by :func:`end_session`, the outbox replay and the admin force-end, so that an audit
    row can commit in the same transaction.
    """
    ident = clean_identifier(session_identifier)
    pid, starts, ends = _rows_under_lock(conn, ident, instrument_pid)
    start = starts[0]
    inst = known_instrument(conn.engine, pid)
    tz = inst.timezone
    started = stored_in_zone(start.timestamp, tz)
    waiting_starts = sum(1 for s in starts if s.record_status == _WAITING)
    if ends:
        return _already_ended(conn, ident, inst, start, started, waiting_starts, ends)
    if start.record_status not in ENDABLE:
        raise Conflict(
            f"Session {ident} has no END but its START is already {start.record_status}; "
            "it cannot be ended. An administrator must look at it."
        )
    stamp = stored_time(at, tz, "end time")
    ended = stored_in_zone(stamp, tz)
    check_end_time(ended, started, stamp=stamp, start_text=start.timestamp, rules=rules)
    if typed:
        rules.check(ended, "end time", typed=True)
    written = end_text_like_start(stamp, start.timestamp, tz)
    _write_end(
        conn,
        ident,
        pid,
        stamp=written,
        last_end=stamp,
        user=start.user,
        waiting_starts=waiting_starts,
    )
    # As stored and as NexusLIMS reads it (a 1.x pair by its wall clocks).
    return EndedSession(ident, inst, start.user, started, stored_in_zone(written, tz))


def _rows_under_lock(
    conn: Connection, ident: str, instrument_pid: str | None
) -> tuple[str, list[Any], list[Any]]:
    """The session's instrument, START rows and END rows, read under the instrument's lock.

    With ``instrument_pid`` on PostgreSQL: the lock and the read in one round trip.
    """
    if instrument_pid is not None and conn.dialect.name == "postgresql":
        (read,) = lock_and_read(conn, instrument_pid, [start_and_end_statement(ident)])
        starts, ends = split_start_and_end(read.rows)
    else:
        starts, ends = start_and_end_rows(conn, ident)
    if not starts:
        raise NotFound(f"There is no session {ident} in the database {describe(conn.engine)}.")
    pid = starts[0].instrument
    if conn.dialect.name == "postgresql" and not holds_instrument_lock(conn, pid):
        lock_instrument(conn, pid)
        # Read again under the lock: READ COMMITTED may have seen the rows before another
        # writer's commit. (SQLite's BEGIN IMMEDIATE held the write lock from the start.)
        starts, ends = start_and_end_rows(conn, ident)
    return pid, starts, ends


def _already_ended(
    conn: Connection,
    ident: str,
    inst: Instrument,
    start: Any,
    started: datetime,
    waiting_starts: int,
    ends: list[Any],
) -> EndedSession:
    """A session that has an END: finish a half-done one, release the claim, write no END."""
    waiting_ends = [e for e in ends if e.record_status == _WAITING]
    if waiting_starts and waiting_ends:
        if any(e.user != start.user for e in waiting_ends):
            raise Conflict(
                f"Session {ident} has an unfinished END whose user differs from its START "
                f"({start.user!r}); NexusLIMS could not pair them. An administrator must fix "
                "the END's user."
            )
        _queue_rows(conn, ident, waiting_starts + len(waiting_ends))
        _logger.warning("Finished the half-done END of session %s", ident)
    open_rule.release(conn, ident, ends[-1].timestamp)
    return EndedSession(
        ident,
        inst,
        start.user,
        started,
        stored_in_zone(ends[-1].timestamp, inst.timezone),
        already_ended=True,
    )


def _write_end(
    conn: Connection,
    ident: str,
    pid: str,
    *,
    stamp: str,
    last_end: str,
    user: str | None,
    waiting_starts: int,
) -> None:
    """Insert the END row (``stamp``) and release the claim, noting ``last_end`` (aware) as
    the instrument's last end (one round trip on PostgreSQL), then set START and END to
    TO_BE_BUILT (counted)."""
    end_row = {
        "session_identifier": ident,
        "instrument": pid,
        "timestamp": stamp,
        "event_type": _END,
        "record_status": _WAITING,
        "user": user,
    }
    release = open_rule.release_statement(conn, ident, last_end)
    send_together(conn, [(INSERT_EVENT, end_row)] + ([release] if release else []))
    hook = _between_end_insert_and_status_update
    if hook is not None:
        hook(conn)
    _queue_rows(conn, ident, waiting_starts + 1)


def check_end_time(
    ended: datetime,
    started: datetime,
    *,
    stamp: str,
    start_text: str,
    rules: TimeRules = DEFAULT_RULES,
) -> None:
    """Refuse an end before the start, or more than the clock-skew tolerance in the future.

    ``stamp`` and ``start_text`` are the end and start as stored, for the message. Used by
    :func:`end_in_transaction` and by the admin force-end's preview. (The back-fill limit is
    for times a person types; the caller checks it where it has one.)
    """
    if ends_before_start(ended, started, start_text):
        raise InvalidInput(
            f"The end time {stamp} is before the session started ({start_text}). "
            "Give a later end time."
        )
    if ended > datetime.now(UTC) + rules.skew:
        # NexusLIMS would build a record reaching into the future, with other users' files.
        raise InvalidInput(
            f"The end time {stamp} is in the future. Give the time the session really ended "
            "(now at the latest)."
        )


def _queue_rows(conn: Connection, ident: str, expected: int) -> None:
    """Set the WAITING_FOR_END START/END rows of ``ident`` to TO_BE_BUILT; exactly ``expected``."""
    result = conn.execute(_QUEUE, {"ident": ident})
    if result.rowcount != expected:
        raise Conflict(
            f"Ending session {ident} would have changed {result.rowcount} rows instead of "
            f"{expected}; nothing was written. Someone else changed the session at the same "
            "time: look at it and try again."
        )


def end_session(
    *,
    instrument: str | None = None,
    session_identifier: str | None = None,
    at: datetime | None = None,
    engine: EngineLike = None,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
) -> EndedSession:
    """Insert END with the START's user and set START and END to TO_BE_BUILT in one transaction.

    Ends the session named by ``session_identifier``, or else the open session of
    ``instrument`` (:class:`NoOpenSession` when there is none). ``at`` is the end time
    (default now; naive means the instrument's zone); it may not be before the start, nor
    further in the future than ``rules`` allow (with ``typed``, a time a person gave: nor older
    than their back-fill limit). After this, NexusLIMS's ``get_sessions_to_build()`` returns
    the session.
    """
    eng = get_engine(engine)
    require_usable(eng)
    if session_identifier is None and instrument is None:
        raise InvalidInput("Say which session to end: give the instrument or the session.")
    pid = clean_instrument(instrument) if instrument is not None else None
    if pid is not None:
        known_instrument(eng, pid)
    ident = clean_identifier(session_identifier) if session_identifier is not None else None
    with write_transaction(eng) as conn:
        if ident is None:
            assert pid is not None
            lock_instrument(conn, pid)
            row = open_start_row(conn, pid)
            if row is None:
                raise NoOpenSession(
                    f"No session is open on {pid}; there is nothing to end. "
                    "('nexus-logger session status' shows the instrument's state.)"
                )
            ident = row.session_identifier
        ended = end_in_transaction(
            conn, session_identifier=ident, at=at, rules=rules, typed=typed, instrument_pid=pid
        )
        if pid is not None:
            _refuse_other_instrument(ended, pid)
    forget_open_here(ident)
    if not ended.already_ended:
        _logger.info(
            "Ended session %s on %s (%s), %.0f s",
            ident,
            ended.instrument.instrument_pid,
            ended.user,
            ended.duration_seconds,
        )
    return ended


def replace_session(
    *,
    old_session_identifier: str,
    end_at: datetime,
    instrument: str,
    user: str | None,
    note: str | None = None,
    engine: EngineLike = None,
    rules: TimeRules = DEFAULT_RULES,
) -> StartResult:
    """End the old session at ``end_at`` and start a new one now, in one transaction.

    "End it and start a new one" in the resume dialog: ``end_at`` is now or the old session's
    last heartbeat. Either both happen or neither does. ``user=None`` means the OS login.
    """
    eng = get_engine(engine)
    require_usable(eng)
    pid = clean_instrument(instrument)
    name = session_user(user)
    text = clean_note(note)
    old = clean_identifier(old_session_identifier)
    inst = known_instrument(eng, pid)
    stamp = stored_time(None, inst.timezone)
    if timestamps.parse(stored_time(end_at, inst.timezone)) > timestamps.parse(stamp):
        raise InvalidInput(
            "The old session cannot end after the new one starts; choose an end time up to now."
        )
    if text:
        ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        lock_instrument(conn, pid)
        ended = end_in_transaction(conn, session_identifier=old, at=end_at, rules=rules)
        _refuse_other_instrument(ended, pid)
        result = start_in_transaction(
            conn,
            inst,
            user=name,
            note=text,
            stamp=stamp,
            ident=str(uuid.uuid4()),
            explicit_identifier=False,
        )
    forget_open_here(old)
    _logger.info(
        "Replaced session %s (ended %s) by %s on %s",
        old,
        ended.ended.isoformat(),
        result.session.session_identifier,
        pid,
    )
    return result


def _refuse_other_instrument(ended: EndedSession, pid: str) -> None:
    """:class:`InvalidInput` (the caller's transaction rolls back) when the session named is
    another instrument's than the one the caller is about."""
    if ended.instrument.instrument_pid != pid:
        raise InvalidInput(
            f"Session {ended.session_identifier} belongs to {ended.instrument.instrument_pid}, "
            f"not {pid}; nothing was changed."
        )
