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
from datetime import datetime, timedelta

from sqlalchemy import Engine

from nexus_logger.core import faults, timestamps
from nexus_logger.core.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    NexusLoggerError,
    SchemaError,
)
from nexus_logger.core.offline.outbox import (
    ConflictKind,
    EventKind,
    EventState,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.offline.sender_end import send_end
from nexus_logger.core.offline.sender_run import Run, hold, reject
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import SessionsOverlap, StartResult
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules

__all__ = ["UNCONFIRMED_RECENT", "Run", "send_end", "send_waiting"]

_logger = logging.getLogger(__name__)

#: A START the user was never told about is still written when it is at most this old.
UNCONFIRMED_RECENT = timedelta(minutes=10)


def send_waiting(
    outbox: Outbox,
    eng: Engine,
    database_key: str,
    rules: TimeRules = DEFAULT_RULES,
    live_id: int | None = None,
    awaited: frozenset[int] = frozenset(),
) -> Run:
    """Send every pending event of ``database_key`` in order; stop at an unreachable database.

    The caller holds the outbox's file lock (one sender per PC at a time). ``live_id``: the
    END the user just clicked, if it is among them (see :attr:`Run.live_id`). ``awaited``:
    ENDs kept by a window of this process that sends them itself next; a run stops there
    (the ones after them keep their order). Sent by a status check queued before it, such an
    END was taken for one nobody watches: a session staff had ended got a staff conflict as
    well as the user's answer, and the window then kept a second END.
    """
    run = Run(live_id=live_id)
    events = outbox.items(database=database_key, states=(EventState.PENDING,))
    if not events:
        return run
    run.attempted = True
    for event in events:
        if event.id in awaited and event.id != live_id:
            break
        try:
            if event.kind is EventKind.START:
                _send_start(outbox, eng, event, run, rules)
            else:
                send_end(outbox, eng, event, run, rules)
        except (DatabaseUnavailable, DatabaseReadOnly, SchemaError) as err:
            # All pass: the same write is expected to succeed later (a read-only file or
            # share is made writable again, the file replaced by an empty one is put back),
            # so the event waits in order, as it is.
            outbox.note_attempt(event.id, str(err))
            run.error = str(err)
            run.unusable = isinstance(err, SchemaError)
            run.refused_writes = isinstance(err, DatabaseReadOnly) or run.unusable
            break
        except NexusLoggerError as err:
            reject(outbox, event, err, run)
        except Exception as err:  # a bug must not block every later event forever
            _logger.exception("Sending outbox event %d failed", event.id)
            reject(outbox, event, err, run)
    return run


def _send_start(
    outbox: Outbox, eng: Engine, event: OutboxEvent, run: Run, rules: TimeRules
) -> None:
    ident = event.session_identifier
    age = timestamps.seconds_between(event.at, timestamps.now_in(event.timezone))
    if not event.confirmed and age > UNCONFIRMED_RECENT.total_seconds():
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
        _start_overlapped(outbox, event, run, err)
        return
    faults.point("send:start-committed")
    if result.session.session_identifier == ident:
        outbox.set_state(event.id, EventState.SENT)
        run.sent += 1
        if result.created:
            # This PC's record, as for a START written at once, whichever login sends it: at
            # the next outage the PC still knows the session (forgotten once it ends anywhere).
            lifecycle.remember_open_here(result.session, event.database)
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
    _start_while_open(outbox, event, run, result)


def _start_overlapped(outbox: Outbox, event: OutboxEvent, run: Run, err: SessionsOverlap) -> None:
    """Sessions were logged over the START's time meanwhile: drop it if unseen, else hold it."""
    if not event.confirmed:
        _drop(outbox, event, run, "sessions were logged over its time meanwhile")
        return
    hold(
        outbox,
        event,
        run,
        ConflictKind.OVERLAP,
        f"Session {event.session_identifier} was started on this PC at {event.at_text} "
        f"({event.instrument_pid}, user {event.user}) while the database could not be reached, "
        f"and meanwhile these sessions were logged on the instrument: "
        f"{lifecycle.describe_sessions(err.sessions)}. Outcome: the START is kept on "
        "this PC and not written, so that NexusLIMS never builds two records over the "
        "same time. Ask the users which is right; correct the sessions in the Admin tab "
        "and mark the conflict handled.",
        error="sessions overlap it",
    )


def _start_while_open(outbox: Outbox, event: OutboxEvent, run: Run, result: StartResult) -> None:
    """Another session is open on the instrument: drop the START if unseen, else hold it."""
    other = result.session
    if not event.confirmed:
        _drop(outbox, event, run, f"session {other.session_identifier} is open on the instrument")
        return
    hold(
        outbox,
        event,
        run,
        ConflictKind.START_WHILE_OPEN,
        f"Session {event.session_identifier} was started on this PC while the database could "
        f"not be reached ({event.instrument_pid}, user {event.user}, {event.at_text}), but "
        f"session {other.session_identifier} (user {other.user}, since {other.start_text}) "
        "is open on the instrument in the database. Outcome: the START is kept on "
        "this PC and not written, so the instrument never has two open sessions. When its "
        "END comes, the whole session is written if nothing overlaps it, and kept here "
        "otherwise.",
        error="another session is open",
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
