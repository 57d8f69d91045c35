"""Starting a session: one transaction in the database, and only when it cannot be reached
the START kept on this PC (the user told exactly that)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from nexus_logger.core import faults, timestamps
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import DatabaseUnavailable, said_locked
from nexus_logger.core.offline.database_link import DatabaseLink
from nexus_logger.core.offline.durable_outcomes import StartOutcome, queued
from nexus_logger.core.offline.outbox import EventKind, OutboxError
from nexus_logger.core.offline.outbox_keeper import OutboxKeeper
from nexus_logger.core.offline.session_finder import SessionFinder
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.core.sessions.time_rules import TimeRules, localize
from nexus_logger.core.validation import clean_user

_logger = logging.getLogger(__name__)


class SessionStarter:
    """The START of a session: the database first, this PC's outbox only when it is away."""

    def __init__(
        self, link: DatabaseLink, keeper: OutboxKeeper, finder: SessionFinder, rules: TimeRules
    ) -> None:
        self._link = link
        self._keeper = keeper
        self._finder = finder
        self._rules = rules

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
        """Start a session for ``user`` now (or at ``at``, naive: the instrument's zone).

        "Now" is ``asked_at`` when given (when the person asked: a locked or slow database
        does not move the START later), else the moment of this call.

        With the database reachable this is one transaction there: ``created=False`` (with the
        open session) when a session is already open. Otherwise the START is kept on this PC
        (``queued=True``). A caller that tells the user itself passes ``confirm=False`` and calls
        :meth:`DurableLogger.confirm` once the user has seen the outcome. ``typed``: ``at`` was given by a
        person, so the back-fill limit applies to it.
        """
        name = clean_user(user)
        text = lifecycle.clean_note(note)
        tz = instrument.timezone
        if at is not None:
            when = localize(at, tz, "start time")
        elif asked_at is not None:
            when = min(asked_at, timestamps.now_in(tz)).astimezone(timestamps.zone(tz))
        else:
            when = timestamps.now_in(tz)
        self._rules.check(when, "start time", typed=typed)
        pid = instrument.instrument_pid
        try:
            eng = self._keeper.engine_after_waiting()
            faults.point("start:before-db")
            result = lifecycle.start_session(
                instrument=pid,
                user=name,
                note=text,
                at=at,
                engine=eng,
                rules=self._rules,
                asked_at=when if at is None else None,
            )
            faults.point("start:committed")
        except DatabaseUnavailable as err:
            self._link.went_offline(err)
            return self._keep_start(instrument, name, text, when, err, confirm)
        self._link.came_online()
        if result.created:
            lifecycle.remember_open_here(result.session, self._keeper.database_key)
            message = f"Session started on {instrument.display_name} for {name}."
        elif self._finder.end_waits_here(result.session.session_identifier):
            # Ended here, but the database has not taken the END yet: not "end it first".
            message = (
                f"The session of {_who(result.session)} on {instrument.display_name} was ended "
                "on this PC, but the database has not taken its END yet (it is sent "
                "automatically once the database accepts changes); start again after that."
            )
            return StartOutcome(
                result.session,
                False,
                False,
                self._keeper.with_warning(message),
                end_waits_here=True,
            )
        else:
            s = result.session
            message = f"A session is already open on {instrument.display_name}: {_who(s)}."
        return StartOutcome(
            result.session, result.created, False, self._keeper.with_warning(message)
        )

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
        kept = self._finder.kept_session(pid, offline=True)
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
            event = self._keeper.outbox.add(
                EventKind.START,
                database=self._keeper.database_key,
                session_identifier=str(uuid.uuid4()),
                instrument_pid=pid,
                timezone=tz,
                at_text=timestamps.to_db(when, tz),
                user=user,
                note=note,
                confirmed=False,
            )
        except OutboxError as out:
            self._keeper.failed(out)
            raise DatabaseUnavailable(
                f"{err} The session cannot be kept on this PC either: {out}"
            ) from err
        self._keeper.works()
        faults.point("start:kept")
        if confirm:
            self._keeper.outbox.confirm(event.id)
        _logger.warning("START %s kept on this PC: %s", event.session_identifier, err)
        return StartOutcome(
            self._finder.session_from_event(event),
            True,
            True,
            self._keeper.with_warning(queued("start", str(err))),
            event_id=event.id,
            locked=said_locked(str(err)),
        )


def _who(session: OpenSession) -> str:
    """ "user alice since 2026-12-02 08:36 (PC lab-pc-1)" for messages."""
    where = f", PC {session.hostname}" if session.hostname else ""
    return f"user {session.user or 'unknown'} since {session.started:%Y-%m-%d %H:%M}{where}"
