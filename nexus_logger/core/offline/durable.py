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

import logging
import uuid
from datetime import datetime

from nexus_logger.core import faults, timestamps
from nexus_logger.core.db.database_key import database_key
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import DatabaseUnavailable
from nexus_logger.core.offline.durable_base import LOCK_WAIT_SECONDS, RETRY_SECONDS
from nexus_logger.core.offline.durable_end import DurableEnder
from nexus_logger.core.offline.durable_outcomes import (
    ENDED_WILL_BUILD,
    QUEUED_END,
    QUEUED_START,
    EndOutcome,
    StartOutcome,
    SyncReport,
)
from nexus_logger.core.offline.outbox import EventKind, OutboxError
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.core.sessions.time_rules import localize
from nexus_logger.core.settings.identity import recorded_login as os_login
from nexus_logger.core.settings.identity import same_user
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

_logger = logging.getLogger(__name__)


class DurableLogger(DurableEnder):
    """Start, end and replace sessions; keep events on this PC while the database is away.

    Safe to share between threads (calls are serialised) and between processes on one PC. The
    window runs it on its database worker: :meth:`sync` at launch and every
    :data:`RETRY_SECONDS` while :meth:`pending_count` is not zero.
    """

    def start(
        self,
        *,
        instrument: Instrument,
        user: str,
        note: str | None = None,
        at: datetime | None = None,
        confirm: bool = True,
        typed: bool = False,
    ) -> StartOutcome:
        """Start a session for ``user`` now (or at ``at``, naive: the instrument's zone).

        With the database reachable this is one transaction there: ``created=False`` (with the
        open session) when a session is already open. Otherwise the START is kept on this PC
        (``queued=True``). A caller that tells the user itself passes ``confirm=False`` and calls
        :meth:`confirm` once the user has seen the outcome. ``typed``: ``at`` was given by a
        person, so the back-fill limit applies to it.
        """
        name = clean_user(user)
        text = lifecycle.clean_note(note)
        tz = instrument.timezone
        when = timestamps.now_in(tz) if at is None else localize(at, tz, "start time")
        self.rules.check(when, "start time", typed=typed)
        pid = instrument.instrument_pid
        with self._lock:
            try:
                eng = self._engine_after_waiting()
                faults.point("start:before-db")
                result = lifecycle.start_session(
                    instrument=pid,
                    user=name,
                    note=text,
                    at=at,
                    engine=eng,
                    rules=self.rules,
                )
                faults.point("start:committed")
            except DatabaseUnavailable as err:
                self._went_offline(err)
                return self._keep_start(instrument, name, text, when, err, confirm)
            self._came_online()
        if result.created:
            lifecycle.remember_open_here(result.session)
            message = f"Session started on {instrument.display_name} for {name}."
        else:
            s = result.session
            message = f"A session is already open on {instrument.display_name}: {_who(s)}."
        return StartOutcome(result.session, result.created, False, self._with_warning(message))

    def _keep_start(
        self,
        instrument: Instrument,
        user: str,
        note: str | None,
        when: datetime,
        err: DatabaseUnavailable,
        confirm: bool,
    ) -> StartOutcome:
        pid = instrument.instrument_pid
        kept = self._kept_session(pid, offline=True)
        if kept is not None:
            return StartOutcome(
                kept,
                False,
                True,
                f"The database cannot be reached, and this PC knows a session open on "
                f"{instrument.display_name}: {_who(kept)}.",
            )
        tz = instrument.timezone
        try:
            event = self.outbox.add(
                EventKind.START,
                database=self.database_key,
                session_identifier=str(uuid.uuid4()),
                instrument_pid=pid,
                timezone=tz,
                at_text=timestamps.to_db(when, tz),
                user=user,
                note=note,
                confirmed=False,
            )
        except OutboxError as out:
            self._outbox_failed(out)
            raise DatabaseUnavailable(
                f"{err} The session cannot be kept on this PC either: {out}"
            ) from err
        self._outbox_works()
        faults.point("start:kept")
        if confirm:
            self.outbox.confirm(event.id)
        _logger.warning("START %s kept on this PC: %s", event.session_identifier, err)
        return StartOutcome(
            self._session_from_event(event),
            True,
            True,
            self._with_warning(QUEUED_START),
            event_id=event.id,
        )

    def confirm(self, outcome: StartOutcome) -> None:
        """Record that the user was told about a START kept on this PC (no-op otherwise)."""
        if outcome.event_id is not None:
            self._outbox_call(self.outbox.confirm, outcome.event_id)
            faults.point("start:confirmed")

    def replace(
        self, old: OpenSession, *, end_at: datetime, user: str, note: str | None = None
    ) -> StartOutcome:
        """ "End it and start a new one": end ``old`` at ``end_at``, then start for ``user``."""
        name = clean_user(user)
        lifecycle.clean_note(note)
        by = None if same_user(old.user, name) else name
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
            )
        return started


def _who(session: OpenSession) -> str:
    """ "user alice since 2026-12-02 08:36 (PC lab-pc-1)" for messages."""
    where = f", PC {session.hostname}" if session.hostname else ""
    return f"user {session.user or 'unknown'} since {session.started:%Y-%m-%d %H:%M}{where}"
