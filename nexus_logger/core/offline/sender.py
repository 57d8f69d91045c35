"""Sending the outbox: what to write for each waiting event, and what a conflict means.

Events wait in the outbox (:mod:`~nexus_logger.core.offline.outbox`, the storage) because the database
could not be reached when the user acted, or, for an END, until the database has confirmed it.
:func:`send_waiting` writes them in the order they happened through the same lifecycle
transactions as the online path, so an END and the status change of START and END commit
together. Sending is idempotent (a START is known by its ``session_identifier``, an END by its
session, which has only one), so a crash between the database's commit and the outbox update
writes nothing twice.

The outcomes, each also described in ``docs/outbox.md``:

* a START the user was never told about (``confirmed`` is false: the process ended first) is
  written only when the instrument is free and the start is recent; otherwise it is dropped,
  with a log line. It never becomes a conflict;
* a START the user was told about is written when the instrument is free and nothing was
  logged over its time meanwhile; otherwise it is **held** with a conflict, never written over
  another session;
* an END whose START is held (or missing from the database) is written together with its
  START, both TO_BE_BUILT, when nothing overlaps the whole session; otherwise it is held too.
  So sending never leaves two TO_BE_BUILT sessions overlapping on one instrument;
* an END for a session that already has another END (staff force-ended it) is skipped, and
  the database keeps its END.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select

from nexus_logger.core import faults, timestamps
from nexus_logger.core.db.engine import write_transaction
from nexus_logger.core.db.logger_tables import ensure_tables
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.models import SessionLogEntry
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import DatabaseUnavailable, NexusLoggerError, NotFound
from nexus_logger.core.offline.outbox import (
    ConflictKind,
    ConflictRecord,
    EventKind,
    EventState,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.sessions import lifecycle, open_rule, other_login
from nexus_logger.core.sessions.lifecycle import EndedSession, SessionsOverlap
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules

__all__ = ["UNCONFIRMED_RECENT", "Run", "send_end", "send_waiting"]

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__

#: A START the user was never told about is still written when it is at most this old.
UNCONFIRMED_RECENT = timedelta(minutes=10)


@dataclass
class Run:
    """What one sending run did."""

    attempted: bool = False  # the database was contacted
    sent: int = 0
    dropped: int = 0  # unconfirmed STARTs given up
    conflicts: list[ConflictRecord] = field(default_factory=list)
    error: str | None = None  # why the run stopped early (database unreachable)
    #: The result of each END written in this run, by event id (for the live END's outcome).
    ended: dict[int, EndedSession] = field(default_factory=dict)
    #: The END the user just clicked: the user is told its outcome, so it makes no conflict.
    live_id: int | None = None


def send_waiting(
    outbox: Outbox,
    eng: Engine,
    database_key: str,
    rules: TimeRules = DEFAULT_RULES,
    live_id: int | None = None,
) -> Run:
    """Send every pending event of ``database_key`` in order; stop at an unreachable database.

    The caller holds the outbox's file lock (one sender per PC at a time). ``live_id``: the
    END the user just clicked, if it is among them (see :attr:`Run.live_id`).
    """
    run = Run(live_id=live_id)
    events = outbox.items(database=database_key, states=(EventState.PENDING,))
    if not events:
        return run
    run.attempted = True
    for event in events:
        try:
            if event.kind is EventKind.START:
                _send_start(outbox, eng, event, run, rules)
            else:
                send_end(outbox, eng, event, run, rules)
        except DatabaseUnavailable as err:
            outbox.note_attempt(event.id, str(err))
            run.error = str(err)
            break
        except NexusLoggerError as err:
            _reject(outbox, event, err, run)
        except Exception as err:  # a bug must not block every later event forever
            _logger.exception("Sending outbox event %d failed", event.id)
            _reject(outbox, event, err, run)
    return run


def _reject(outbox: Outbox, event: OutboxEvent, err: BaseException, run: Run) -> None:
    outbox.set_state(event.id, EventState.HELD, error=str(err))
    run.conflicts.append(
        outbox.add_conflict(
            event,
            ConflictKind.REJECTED,
            f"The database refused the saved {event.kind} of session "
            f"{event.session_identifier} on {event.instrument_pid} ({event.at_text}): {err} "
            "Outcome: the event is kept on this PC; fix the cause and run "
            f"'nexus-logger sync --retry {event.id}', or mark the conflict handled to give it up.",
        )
    )


def _send_start(
    outbox: Outbox, eng: Engine, event: OutboxEvent, run: Run, rules: TimeRules
) -> None:
    ident = event.session_identifier
    if not event.confirmed and event.at < timestamps.now_in(event.timezone) - UNCONFIRMED_RECENT:
        _drop(outbox, event, run, "it is older than 10 minutes")
        return
    try:
        result = lifecycle.start_session(
            instrument=event.instrument_pid,
            user=event.user,
            note=event.note,
            at=event.at,
            session_identifier=ident,
            engine=eng,
            rules=rules,
            ends_at=_known_end(outbox, ident),
        )
    except SessionsOverlap as err:
        if not event.confirmed:
            _drop(outbox, event, run, "sessions were logged over its time meanwhile")
            return
        outbox.set_state(event.id, EventState.HELD, error="sessions overlap it")
        run.conflicts.append(
            outbox.add_conflict(
                event,
                ConflictKind.OVERLAP,
                f"Session {ident} was started on this PC at {event.at_text} ({event.instrument_pid}, "
                f"user {event.user}) while the database could not be reached, and meanwhile "
                f"these sessions were logged on the instrument: "
                f"{lifecycle.describe_sessions(err.sessions)}. Outcome: the START is kept on "
                "this PC and not written, so that NexusLIMS never builds two records over the "
                "same time. Ask the users which is right; correct the sessions in the Admin tab "
                "and mark the conflict handled.",
            )
        )
        return
    faults.point("send:start-committed")
    if result.session.session_identifier == ident:
        outbox.set_state(event.id, EventState.SENT)
        run.sent += 1
        if result.created and not event.confirmed:
            _logger.warning(
                "START %s (%s, user %s, %s) was written although its user was never told about "
                "it (the process ended first): the instrument was free and the start recent",
                ident,
                event.instrument_pid,
                event.user,
                event.at_text,
            )
        return
    other = result.session
    if not event.confirmed:
        _drop(outbox, event, run, f"session {other.session_identifier} is open on the instrument")
        return
    outbox.set_state(event.id, EventState.HELD, error="another session is open")
    run.conflicts.append(
        outbox.add_conflict(
            event,
            ConflictKind.START_WHILE_OPEN,
            f"Session {ident} was started on this PC while the database could not be reached "
            f"({event.instrument_pid}, user {event.user}, {event.at_text}), but meanwhile "
            f"session {other.session_identifier} (user {other.user}, since {other.start_text}) "
            "was opened on the instrument. Outcome: the START is kept on this PC and not "
            "written, so the instrument never has two open sessions. When its END comes, the "
            "whole session is written if nothing overlaps it, and kept here otherwise.",
        )
    )


def _known_end(outbox: Outbox, ident: str) -> datetime | None:
    """The time of the session's END if it waits in the outbox too (it bounds the session)."""
    ends = [e.at for e in outbox.items(session_identifier=ident) if e.kind is EventKind.END]
    return min(ends) if ends else None


def _drop(outbox: Outbox, event: OutboxEvent, run: Run, why: str) -> None:
    """Give up a START the user was never told about (the process ended before it could)."""
    outbox.set_state(event.id, EventState.SKIPPED, error=f"dropped: never confirmed, and {why}")
    run.dropped += 1
    _logger.warning(
        "Dropped the START %s (%s, user %s, %s) kept on this PC: its user was never told "
        "about it (the process ended first), and %s",
        event.session_identifier,
        event.instrument_pid,
        event.user,
        event.at_text,
        why,
    )


def _start_not_written(outbox: Outbox, ident: str) -> OutboxEvent | None:
    """This PC's START of the session when it was held or given up (so never written)."""
    for e in outbox.items(session_identifier=ident, states=(EventState.HELD, EventState.SKIPPED)):
        if e.kind is EventKind.START:
            return e
    return None


def send_end(
    outbox: Outbox, eng: Engine, event: OutboxEvent, run: Run, rules: TimeRules = DEFAULT_RULES
) -> None:
    """Write one END (with the note it carries) and record the outcome in the outbox."""
    ident = event.session_identifier
    source = _start_not_written(outbox, ident)
    if source is not None:
        _write_whole_session(outbox, eng, event, run, source, rules)
        return
    if event.note:
        ensure_tables(eng, [note_table])
    audit = bool(event.ended_by) and other_login.can_audit(eng)
    try:
        with write_transaction(eng) as conn:
            ended = _end(conn, event, rules, audit)
            if event.note and not ended.already_ended:
                # The note as it was when End was clicked (typed offline, perhaps).
                lifecycle.write_note_in_transaction(conn, ident, event.note, event.timezone)
            faults.point("send:end-before-commit")
    except NotFound:
        _write_whole_session(outbox, eng, event, run, None, rules)
        return
    faults.point("send:end-committed")
    run.ended[event.id] = ended
    lifecycle.forget_open_here(ident)
    if ended.already_ended and not _same_instant(ended.ended, event.at):
        outbox.set_state(
            event.id,
            EventState.SKIPPED,
            error=f"the session had already ended at {ended.ended.isoformat()}",
        )
        if event.id == run.live_id:
            return  # the user is right here and is told
        run.conflicts.append(
            outbox.add_conflict(
                event,
                ConflictKind.END_ALREADY_RECORDED,
                f"Session {ident} on {event.instrument_pid} (user {event.user}) was ended on "
                f"this PC at {event.at_text}, but it had already been ended at "
                f"{ended.ended.isoformat()} (force-ended by staff or ended elsewhere). Outcome: "
                "the database keeps that END; this END was not written. If the real end time "
                "matters, correct the session's END.",
            )
        )
        return
    outbox.set_state(event.id, EventState.SENT)
    run.sent += 1


def _end(conn: Connection, event: OutboxEvent, rules: TimeRules, audit: bool) -> EndedSession:
    """The END in the caller's transaction; one that another login asked for is audited."""
    if event.ended_by:
        return other_login.end_and_audit(
            conn,
            session_identifier=event.session_identifier,
            at=event.at,
            by=event.ended_by,
            audit=audit,
            rules=rules,
        )
    return lifecycle.end_in_transaction(
        conn,
        session_identifier=event.session_identifier,
        at=event.at,
        rules=rules,
        instrument_pid=event.instrument_pid,  # the lock first, the rows read once
    )


def _same_instant(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1e-3


def _write_whole_session(
    outbox: Outbox,
    eng: Engine,
    event: OutboxEvent,
    run: Run,
    source: OutboxEvent | None,
    rules: TimeRules,
) -> None:
    """START and END together, both TO_BE_BUILT, in one transaction, if nothing overlaps."""
    ident = event.session_identifier
    start_text = source.at_text if source else event.start_text
    user = source.user if source else event.user
    note = source.note if source else event.note
    if not start_text:
        _hold(
            outbox,
            event,
            run,
            ConflictKind.END_WITHOUT_START,
            f"The END of session {ident} on {event.instrument_pid} ({event.at_text}) has no "
            "START in the database, and this PC does not know when the session started. "
            "Outcome: the END is kept on this PC; add the START by hand and run "
            f"'nexus-logger sync --retry {event.id}', or mark the conflict handled to give it up.",
        )
        return
    tz = event.timezone
    started = timestamps.parse(start_text, tz)
    if note:
        ensure_tables(eng, [note_table])
    audit = bool(event.ended_by) and other_login.can_audit(eng)
    with write_transaction(eng) as conn:
        lifecycle.lock_instrument(conn, event.instrument_pid)
        present = conn.execute(
            select(_T.c.id_session_log).where(
                _T.c.session_identifier == ident, _T.c.event_type == EventType.START.value
            )
        ).first()
        if present is None:
            others = _overlaps(conn, event, started, tz)
            if others:
                listed = lifecycle.describe_sessions(others)
                _hold(
                    outbox,
                    event,
                    run,
                    ConflictKind.OVERLAP,
                    f"Session {ident} on {event.instrument_pid} (user {user}, {start_text} to "
                    f"{event.at_text}) was kept on this PC, and meanwhile these sessions were "
                    f"logged over its time: {listed}. Outcome: the session is kept on this PC "
                    "and not written, so that NexusLIMS never builds two records over the same "
                    "time. Ask the users which is right, then mark the conflict handled.",
                )
                return
            stamp = timestamps.to_db(started, tz)
            conn.execute(
                insert(_T).values(
                    session_identifier=ident,
                    instrument=event.instrument_pid,
                    timestamp=stamp,
                    event_type=EventType.START.value,
                    record_status=RecordStatus.WAITING_FOR_END.value,
                    user=user,
                )
            )
            if note:
                conn.execute(
                    insert(note_table).values(session_identifier=ident, note=note, updated=stamp)
                )
        ended = _end(conn, event, rules, audit)
    run.ended[event.id] = ended
    lifecycle.forget_open_here(ident)
    outbox.set_state(event.id, EventState.SENT)
    run.sent += 1
    if source is not None:
        outbox.set_state(source.id, EventState.SENT)
        record = outbox.open_conflict_for(source.id, ConflictKind.START_WHILE_OPEN)
        if record is not None:
            outbox.append_to_conflict(
                record.id,
                f"Its END ({event.at_text}) arrived and nothing overlapped the session: START "
                "and END were written together as a finished session.",
            )
        return
    if present is not None:
        return  # the START appeared meanwhile: a plain END, no conflict
    run.conflicts.append(
        outbox.add_conflict(
            event,
            ConflictKind.END_WITHOUT_START,
            f"The END of session {ident} on {event.instrument_pid} (user {user}, "
            f"{event.at_text}) found no START in the database (deleted, or the database was "
            "restored from an older copy). Outcome: the START was re-created from what this PC "
            f"kept (started {start_text}) and written with the END, both TO_BE_BUILT, so the "
            "session will be built. If it should not exist, delete it.",
        )
    )


def _overlaps(
    conn: Connection, event: OutboxEvent, started: datetime, tz: str
) -> list[open_rule.LoggedSession]:
    """Sessions logged on the instrument over ``started``..END: open ones and finished ones."""
    found = [
        open_rule.LoggedSession(r.session_identifier, r.user, r.timestamp, None)
        for r in open_rule.open_start_rows(conn, event.instrument_pid)
        if r.session_identifier != event.session_identifier
        and timestamps.parse(r.timestamp, tz) < event.at
    ]
    found += open_rule.overlapping_sessions(
        conn,
        event.instrument_pid,
        tz,
        started,
        event.at,
        exclude=event.session_identifier,
    )
    return found


def _hold(outbox: Outbox, event: OutboxEvent, run: Run, kind: ConflictKind, message: str) -> None:
    outbox.set_state(event.id, EventState.HELD, error=kind.value)
    run.conflicts.append(outbox.add_conflict(event, kind, message))
