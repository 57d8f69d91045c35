"""Sending one END from the outbox: the END alone, or the whole session when its START is not
in the database (held on this PC, or lost there), and what an END already recorded means."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select

from nexus_logger.core import faults, timestamps
from nexus_logger.core.db.engine import write_transaction
from nexus_logger.core.db.logger_tables import ensure_tables
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import NotFound
from nexus_logger.core.offline import other_login
from nexus_logger.core.offline.outbox import (
    ConflictKind,
    EventKind,
    EventState,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.offline.sender_run import Run, hold
from nexus_logger.core.sessions import lifecycle, open_rule
from nexus_logger.core.sessions.lifecycle import EndedSession
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules

__all__ = ["send_end"]

_logger = logging.getLogger(__name__)

_T = session_log


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


@dataclass(frozen=True)
class _KeptStart:
    """What this PC knows of the session's START: its held event, or what the END carries."""

    text: str | None
    user: str | None
    note: str | None

    @classmethod
    def of(cls, event: OutboxEvent, source: OutboxEvent | None) -> _KeptStart:
        if source is not None:
            return cls(source.at_text, source.user, source.note)
        return cls(event.start_text, event.user, event.note)


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
    kept = _KeptStart.of(event, source)
    if not kept.text:
        hold(
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
    started = timestamps.parse(kept.text, tz)
    if kept.note:
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
                _hold_overlapped(outbox, event, run, kept, others)
                return
            _insert_start(conn, event, started, kept)
        ended = _end(conn, event, rules, audit)
    _whole_session_sent(outbox, event, run, ended, source, kept, recreated=present is None)


def _hold_overlapped(
    outbox: Outbox,
    event: OutboxEvent,
    run: Run,
    kept: _KeptStart,
    others: list[open_rule.LoggedSession],
) -> None:
    listed = lifecycle.describe_sessions(others)
    hold(
        outbox,
        event,
        run,
        ConflictKind.OVERLAP,
        f"Session {event.session_identifier} on {event.instrument_pid} (user {kept.user}, "
        f"{kept.text} to {event.at_text}) was kept on this PC, and meanwhile these sessions "
        f"were logged over its time: {listed}. Outcome: the session is kept on this PC "
        "and not written, so that NexusLIMS never builds two records over the same "
        "time. Ask the users which is right, then mark the conflict handled.",
    )


def _insert_start(
    conn: Connection, event: OutboxEvent, started: datetime, kept: _KeptStart
) -> None:
    """The session's START row (and its note) from what this PC kept, waiting for its END."""
    stamp = timestamps.to_db(started, event.timezone)
    conn.execute(
        insert(_T).values(
            session_identifier=event.session_identifier,
            instrument=event.instrument_pid,
            timestamp=stamp,
            event_type=EventType.START.value,
            record_status=RecordStatus.WAITING_FOR_END.value,
            user=kept.user,
        )
    )
    if kept.note:
        conn.execute(
            insert(note_table).values(
                session_identifier=event.session_identifier, note=kept.note, updated=stamp
            )
        )


def _whole_session_sent(
    outbox: Outbox,
    event: OutboxEvent,
    run: Run,
    ended: EndedSession,
    source: OutboxEvent | None,
    kept: _KeptStart,
    *,
    recreated: bool,
) -> None:
    """After the commit: mark what was sent; say so when a lost START was re-created."""
    ident = event.session_identifier
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
    if not recreated:
        return  # the START appeared meanwhile: a plain END, no conflict
    run.conflicts.append(
        outbox.add_conflict(
            event,
            ConflictKind.END_WITHOUT_START,
            f"The END of session {ident} on {event.instrument_pid} (user {kept.user}, "
            f"{event.at_text}) found no START in the database (deleted, or the database was "
            "restored from an older copy). Outcome: the START was re-created from what this PC "
            f"kept (started {kept.text}) and written with the END, both TO_BE_BUILT, so the "
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
