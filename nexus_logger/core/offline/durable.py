"""Start and end sessions: the database first, this PC's outbox only when it cannot be reached.

:class:`DurableLogger` is what the CLI and the GUI call.

* **START** is one transaction in the database (:func:`lifecycle.start_session`), and its answer
  is the truth: started, or refused because a session is open. Only when the database cannot be
  reached (:class:`~nexus_logger.core.errors.DatabaseUnavailable`: connection refused or timed
  out, or locked past ``db_timeout_seconds``) is the START kept in the outbox, and the user told
  exactly that. Such a START counts once the user has been told (:meth:`DurableLogger.confirm`);
  one the user never saw is not a session (:mod:`~nexus_logger.core.offline.sender`).
* **END** is written to the outbox first (fsynced), then sent at once with whatever waits before
  it, so an END the user clicked is never lost, whatever the process dies of. With the database
  reachable the user reads the database's answer.
* If the outbox cannot be written (full disk, read-only folder), start and end go straight to
  the database and the user is warned once that nothing can be kept on this PC meanwhile.

Events that wait are sent in order by :meth:`DurableLogger.sync` (the window every 30 s, any
later command, ``nexus-logger sync``). One sender per PC at a time: a file lock next to the
outbox; a start or end never waits for it (sending is idempotent), so a click is answered as
soon as the database answers.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from nexus_logger.core import faults
from nexus_logger.core.db.database_key import database_key
from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.offline.database_link import DatabaseLink
from nexus_logger.core.offline.durable_outcomes import (
    ENDED_WILL_BUILD,
    QUEUED_END,
    QUEUED_START,
    EndOutcome,
    StartOutcome,
    SyncReport,
)
from nexus_logger.core.offline.outbox import (
    ConflictRecord,
    EventKind,
    EventState,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.offline.outbox_keeper import OutboxKeeper
from nexus_logger.core.offline.session_ender import SessionEnder
from nexus_logger.core.offline.session_finder import SessionFinder
from nexus_logger.core.offline.session_starter import SessionStarter
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules
from nexus_logger.core.settings.identity import ending_login
from nexus_logger.core.settings.identity import recorded_login as os_login
from nexus_logger.core.validation import clean_user

__all__ = [
    "ENDED_WILL_BUILD",
    "LOCK_WAIT_SECONDS",
    "QUEUED_END",
    "QUEUED_START",
    "RETRY_SECONDS",
    "DurableLogger",
    "EndOutcome",
    "StartOutcome",
    "SyncReport",
    "database_key",
    "os_login",
]

#: How often the window should call :meth:`DurableLogger.sync` while events wait (seconds).
RETRY_SECONDS = 30
#: How long ``sync`` waits for another process that is sending the same outbox.
LOCK_WAIT_SECONDS = 5.0


class DurableLogger:
    """Start, end and replace sessions; keep events on this PC while the database is away.

    Safe to share between threads (calls are serialised) and between processes on one PC. The
    window runs it on its database worker: :meth:`sync` at launch and every
    :data:`RETRY_SECONDS` while :meth:`pending_count` is not zero. Made of five parts with one
    job each: the database (:class:`DatabaseLink`), the outbox and its sending
    (:class:`OutboxKeeper`), identifying and finding (:class:`SessionFinder`), the START
    (:class:`SessionStarter`) and the END (:class:`SessionEnder`).
    """

    def __init__(
        self,
        database: EngineLike = None,
        *,
        outbox_path: Path | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS,
        timeout: float | None = None,
        rules: TimeRules = DEFAULT_RULES,
        outbox_folder: str = "",
    ) -> None:
        self._rules = rules
        self.link = DatabaseLink(database, timeout=timeout)
        self.keeper = OutboxKeeper(
            self.link, database, rules=rules, outbox_path=outbox_path, outbox_folder=outbox_folder
        )
        self.finder = SessionFinder(self.link, self.keeper)
        self.ender = SessionEnder(self.link, self.keeper, rules)
        self.starter = SessionStarter(self.link, self.keeper, self.finder, rules)
        self._lock = threading.RLock()
        self._lock_wait = lock_wait

    # -- what the callers read ------------------------------------------------------------

    @property
    def rules(self) -> TimeRules:
        """The time rules every part checks against (given once, at construction)."""
        return self._rules

    @property
    def outbox(self) -> Outbox:
        return self.keeper.outbox

    @property
    def database_key(self) -> str:
        return self.keeper.database_key

    @property
    def offline_reason(self) -> str | None:
        """Why the database could not be reached at the last attempt; None after a success."""
        return self.link.offline_reason

    @property
    def outbox_problem(self) -> str | None:
        """Why nothing can be kept on this PC (the outbox cannot be written); None when it can."""
        return self.keeper.problem

    @property
    def outbox_place_problem(self) -> str | None:
        """Why this login keeps events in its own folder, not the PC's; or None."""
        return self.keeper.place_problem

    def engine(self) -> Engine:
        """The shared database's engine (see :meth:`DatabaseLink.engine`)."""
        return self.link.engine()

    # -- identify, and find, start, end, send (those four serialised by the lock) -------

    def identify(self, *, instrument: str | None = None, use_config: bool = True) -> Instrument:
        """This PC's instrument (see :meth:`SessionFinder.identify`)."""
        return self.finder.identify(instrument=instrument, use_config=use_config)

    def find_open(self, instrument_pid: str) -> OpenSession | None:
        """The session open on the instrument (see :meth:`SessionFinder.find_open`)."""
        with self._lock:
            return self.finder.find_open(instrument_pid)

    def held_session(
        self, pid: str | None = None, session_identifier: str | None = None
    ) -> OpenSession | None:
        """This PC's session whose START a conflict holds here (see
        :meth:`SessionFinder.held_session`)."""
        return self.finder.held_session(pid, session_identifier)

    def end(
        self,
        session: OpenSession,
        *,
        at: datetime | None = None,
        typed: bool = False,
        ended_by: str | None = None,
    ) -> EndOutcome:
        """End ``session`` (see :meth:`SessionEnder.end`)."""
        with self._lock:
            return self.ender.end(session, at=at, typed=typed, ended_by=ended_by)

    def keep_end(
        self, session: OpenSession, *, at: datetime | None = None, ended_by: str | None = None
    ) -> OutboxEvent | None:
        """Keep the END in this PC's outbox only (see :meth:`SessionEnder.keep`). Not behind
        the lock of the database work: a database that hangs must not hold it up."""
        return self.ender.keep(session, at=at, ended_by=ended_by)

    def sync(self) -> SyncReport:
        """Send every waiting event of this database, in order; safe to call at any time.

        Waits up to ``lock_wait`` for another process sending the same outbox (the report
        then says ``busy``). Stops at the first event the database cannot take for now (it
        stays waiting, and so do the ones after it). Never raises for an unreachable database.
        """
        with self._lock:
            return self.keeper.sync(self._lock_wait)

    def retry(self, event_id: int) -> SyncReport:
        """Put a held event back in line and send at once.

        Once it is sent, the conflicts it had before are marked handled (the retry was staff's
        answer to them): left open, every window on the PC went on saying "Staff attention
        needed". A conflict the sending itself found (a START re-created) stays open.

        A START's held END (held because its START was) goes back in line with it: retried
        alone, the START was written and the session stayed open in the database, blocking
        the instrument, until someone retried the END too.
        """
        event = self.outbox.get(event_id)
        retried = [event_id]
        if event.kind is EventKind.START:
            retried += [
                e.id
                for e in self.outbox.items(states=(EventState.HELD,))
                if e.kind is EventKind.END and e.session_identifier == event.session_identifier
            ]
        answered = {i: [c.id for c in self.conflicts() if c.event_id == i] for i in retried}
        for i in retried:
            self.outbox.retry(i)
        report = self.sync()
        for i, conflict_ids in answered.items():
            if self.outbox.get(i).state is EventState.SENT:
                for conflict_id in conflict_ids:
                    self.resolve_conflict(conflict_id, note=f"sent by a retry of event {event_id}")
        return report

    def check_reachable(self) -> None:
        """Ask the database now (a question naming ``session_log``, see
        :meth:`DatabaseLink.check_reachable`); :class:`DatabaseUnavailable` if it does not
        answer, :class:`SchemaError` if the file is no NexusLIMS database right now."""
        with self._lock:
            self.link.check_reachable()

    def pending_count(self) -> int:
        """Events for this database not yet in it (pending and held)."""
        return self.keeper.pending_count()

    def pending_events(self) -> list[OutboxEvent]:
        """Those events, oldest first."""
        return self.keeper.pending_events()

    def conflicts(self, *, include_handled: bool = False) -> list[ConflictRecord]:
        """Conflicts found while sending (every database), not yet handled by default."""
        return self.keeper.conflicts(include_handled=include_handled)

    def resolve_conflict(
        self, conflict_id: int, *, by: str | None = None, note: str | None = None
    ) -> ConflictRecord:
        """Mark a conflict handled (see :meth:`Outbox.resolve`)."""
        return self.keeper.resolve_conflict(conflict_id, by=by, note=note)

    def start(
        self,
        *,
        instrument: Instrument,
        user: str,
        note: str | None = None,
        at: datetime | None = None,
        confirm: bool = True,
        typed: bool = False,
        asked_at: datetime | None = None,
    ) -> StartOutcome:
        """Start a session for ``user`` (see :meth:`SessionStarter.start`); ``queued=True`` when
        it is kept on this PC, ``created=False`` (with the open session) when one is open.

        Without ``at``, the START is when the person asked (``asked_at``, or this call: read
        before waiting for another thread's job or a locked database)."""
        asked = asked_at or datetime.now(UTC)
        with self._lock:
            return self.starter.start(
                instrument=instrument,
                user=user,
                note=note,
                at=at,
                confirm=confirm,
                typed=typed,
                asked_at=asked,
            )

    def confirm(self, outcome: StartOutcome) -> None:
        """Record that the user was told about a START kept on this PC (no-op otherwise)."""
        if outcome.event_id is not None:
            self.keeper.call(self.outbox.confirm, outcome.event_id)
            faults.point("start:confirmed")

    def replace(
        self, old: OpenSession, *, end_at: datetime, user: str, note: str | None = None
    ) -> StartOutcome:
        """ "End it and start a new one": end ``old`` at ``end_at``, then start for ``user``."""
        name = clean_user(user)
        lifecycle.clean_note(note)
        by = ending_login(old.user, name)
        with self._lock:
            ended = self.end(old, at=end_at, ended_by=by)
            started = self.start(instrument=old.instrument, user=name, note=note)
        if ended.queued and started.queued:
            message = (
                "The database cannot be reached right now. Ending the old session and starting "
                "the new one are saved on this PC and will be sent automatically."
            )
            return StartOutcome(
                started.session, started.created, True, message, event_id=started.event_id
            )
        if ended.queued or started.queued:
            return StartOutcome(
                started.session,
                started.created,
                started.queued,
                f"{ended.message} {started.message}",
                event_id=started.event_id,
                replaced=ended,
            )
        return dataclasses.replace(started, replaced=ended)
