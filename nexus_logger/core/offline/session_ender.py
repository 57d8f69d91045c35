"""Ending a session: the END kept in the outbox first, then sent at once, so that an END the
user clicked is never lost; the user reads the database's answer when it can be reached."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime

from nexus_logger.core import faults, timestamps
from nexus_logger.core.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    InvalidInput,
    SchemaError,
)
from nexus_logger.core.offline import other_login, sender
from nexus_logger.core.offline.database_link import DatabaseLink
from nexus_logger.core.offline.durable_outcomes import (
    ENDED_WILL_BUILD,
    EndOutcome,
    queued,
    queued_end_refused,
    queued_end_unusable,
)
from nexus_logger.core.offline.outbox import EventKind, EventState, OutboxError, OutboxEvent
from nexus_logger.core.offline.outbox_keeper import OutboxKeeper
from nexus_logger.core.offline.outbox_records import ConflictKind
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.inputs import ends_before_start
from nexus_logger.core.sessions.lifecycle import EndedSession, OpenSession
from nexus_logger.core.sessions.time_rules import TimeRules, localize

_logger = logging.getLogger(__name__)


class SessionEnder:
    """The END of a session: kept on this PC first, then sent; the database's answer told."""

    def __init__(self, link: DatabaseLink, keeper: OutboxKeeper, rules: TimeRules) -> None:
        self._link = link
        self._keeper = keeper
        self._rules = rules
        self._keeping = threading.Lock()

    def end(
        self,
        session: OpenSession,
        *,
        at: datetime | None = None,
        typed: bool = False,
        ended_by: str | None = None,
    ) -> EndOutcome:
        """End ``session`` (now, or at ``at``); kept on this PC if the database is away.

        The END goes to the outbox first, with the session's start time, user and note, so the
        session can still be written whole if its START turns out to be missing. ``typed``:
        ``at`` was given by a person (the back-fill limit applies). ``ended_by``: the login
        that ends another login's session (audited, :mod:`other_login`).
        """
        session, when = self._checked(session, at, typed)
        event = self._kept(session, when, ended_by)
        if event is None:  # nothing can be kept here: straight to the database
            return self._end_directly(session, when, ended_by)
        try:
            return self._send_kept(session, event)
        finally:
            self._keeper.awaited.discard(event.id)  # (kept by keep(): sent or waiting now)

    def _send_kept(self, session: OpenSession, event: OutboxEvent) -> EndOutcome:
        """Send the END kept in the outbox now, and say what came of it."""
        faults.point("end:kept")
        try:
            eng = self._link.engine()
        except DatabaseUnavailable as err:
            return self._end_outcome(session, event, None, err)
        run = self._keeper.send_if_free(eng, live_id=event.id)
        current = self._keeper.outbox.get(event.id)
        if current.state is EventState.PENDING and run.error is None and not run.attempted:
            # Another process is sending this outbox: send this END alone (idempotent).
            run = sender.Run(attempted=True, live_id=event.id)
            try:
                sender.send_end(self._keeper.outbox, eng, current, run, self._rules)
            except (DatabaseUnavailable, DatabaseReadOnly, SchemaError) as err:
                run.error = str(err)
                run.unusable = isinstance(err, SchemaError)
                run.refused_writes = isinstance(err, DatabaseReadOnly) or run.unusable
        faults.point("end:sent")
        error = DatabaseUnavailable(run.error) if run.error else None
        return self._end_outcome(session, self._keeper.outbox.get(event.id), run, error)

    def keep(
        self,
        session: OpenSession,
        *,
        at: datetime | None = None,
        typed: bool = False,
        ended_by: str | None = None,
    ) -> OutboxEvent | None:
        """The END in this PC's outbox only, checked as :meth:`end` checks it; no database
        work at all. :meth:`end` then sends this END (an END already waiting is reused).

        For the window: its End click keeps the END at once, on a thread of its own, so that
        a database that hangs (a paused server, a cut network) holding the database worker
        cannot keep the END from being saved; at logoff it was lost. ``None`` when the outbox
        cannot be used (:meth:`end` then writes to the database directly).
        """
        session, when = self._checked(session, at, typed)
        event = self._kept(session, when, ended_by)
        if event is not None:
            self._keeper.awaited.add(event.id)  # end() sends it; until then nobody else
        return event

    def _checked(
        self, session: OpenSession, at: datetime | None, typed: bool
    ) -> tuple[OpenSession, datetime]:
        """The session with its note checked, and the END's time (aware), or InvalidInput."""
        # The note goes with the END: a note the database would refuse is refused here, with
        # its reason, before anything is kept (a kept END could never be sent).
        session = replace(session, note=lifecycle.clean_note(session.note))
        tz = session.instrument.timezone
        when = timestamps.now_in(tz) if at is None else localize(at, tz, "end time")
        if ends_before_start(when, session.started, session.start_text):
            raise InvalidInput(
                f"The end time {timestamps.to_db(when, tz)} is before the session started "
                f"({session.start_text}). Give a later end time."
            )
        self._rules.check(when, "end time", typed=typed)
        return session, when

    def _kept(
        self, session: OpenSession, when: datetime, ended_by: str | None
    ) -> OutboxEvent | None:
        """The session's END waiting in the outbox, kept now if there is none yet."""
        with self._keeping:  # (the window's keep and its end run on two threads)
            earlier = self._keeper.call(
                self._keeper.outbox.items,
                database=self._keeper.database_key,
                session_identifier=session.session_identifier,
            )
            waiting = [e for e in earlier or () if e.kind is EventKind.END]
            return waiting[0] if waiting else self._keep_end(session, when, ended_by)

    def _keep_end(
        self, session: OpenSession, when: datetime, ended_by: str | None
    ) -> OutboxEvent | None:
        tz = session.instrument.timezone
        try:
            event = self._keeper.outbox.add(
                EventKind.END,
                database=self._keeper.database_key,
                session_identifier=session.session_identifier,
                instrument_pid=session.instrument.instrument_pid,
                timezone=tz,
                at_text=timestamps.to_db(when, tz),
                user=session.user,
                note=session.note,
                start_text=session.start_text,
                ended_by=ended_by,
            )
        except OutboxError as err:
            self._keeper.failed(err)
            return None
        self._keeper.works()
        return event

    def _end_directly(
        self, session: OpenSession, when: datetime, ended_by: str | None
    ) -> EndOutcome:
        if session.kept_on_pc:
            raise DatabaseUnavailable(
                f"This session exists only on this PC, and the outbox holding it cannot be "
                f"used: {self._keeper.problem}"
            )
        ident = session.session_identifier
        try:
            if ended_by:
                ended = other_login.end_now(
                    self._link.engine(),
                    session_identifier=ident,
                    at=when,
                    by=ended_by,
                    rules=self._rules,
                )
            else:
                ended = lifecycle.end_session(
                    session_identifier=ident, at=when, engine=self._link.engine(), rules=self._rules
                )
        except DatabaseUnavailable as err:
            self._link.went_offline(err)
            raise DatabaseUnavailable(
                f"{err} The session end cannot be kept on this PC either: {self._keeper.problem} "
                "Nothing was recorded: end the session again once either works."
            ) from err
        self._link.came_online()
        return self._ended(session, ended, when)

    def _end_outcome(
        self,
        session: OpenSession,
        event: OutboxEvent,
        run: sender.Run | None,
        error: DatabaseUnavailable | None,
    ) -> EndOutcome:
        ident = session.session_identifier
        if event.state is EventState.PENDING:
            message = queued("end", run.error if run is not None else str(error or ""))
            if run is not None and run.unusable and run.error:
                message = queued_end_unusable(run.error)  # it is there: not "offline"
            elif run is not None and run.refused_writes and run.error:
                message = queued_end_refused(run.error)  # it answers: not "offline"
            elif error is not None:
                self._link.went_offline(error)
            _logger.warning("END %s kept on this PC: %s", ident, error)
            return EndOutcome(
                ident, session.started, event.at, True, self._keeper.with_warning(message)
            )
        self._link.came_online()
        if event.state is EventState.HELD:
            # The database's own reason (a server rule, a missing right, an overlap), not a
            # "conflict" it may not be. Not in the database, so no Admin tab shows it: the
            # person is the way to staff.
            why = event.last_error or ""
            if why in {kind.value for kind in ConflictKind} or not why:  # a conflict's kind
                why = f"it conflicts with what the database holds ({why or 'see the log'})"
            return EndOutcome(
                ident,
                session.started,
                event.at,
                True,
                # (no command line: the person at the instrument reads this too)
                f"The session end is kept on this PC, not written: {why.rstrip('. ')}. Tell "
                f"facility staff: it is event {event.id} in this PC's outbox.",
            )
        ended = run.ended.get(event.id) if run is not None else None
        if ended is None:  # sent by another process meanwhile
            return EndOutcome(
                ident,
                session.started,
                event.at,
                False,
                self._keeper.with_warning(ENDED_WILL_BUILD),
            )
        return self._ended(session, ended, event.at)

    def _ended(self, session: OpenSession, ended: EndedSession, asked: datetime) -> EndOutcome:
        earlier = (
            ended.already_ended and abs(timestamps.seconds_between(asked, ended.ended)) >= 1e-3
        )
        if earlier:
            message = (
                f"This session had already been ended at {ended.ended:%Y-%m-%d %H:%M} "
                "(by staff or another PC); nothing else was changed."
            )
        else:
            message = ENDED_WILL_BUILD
        return EndOutcome(
            session.session_identifier,
            ended.started,
            ended.ended,
            False,
            self._keeper.with_warning(message),
            already_ended=earlier,
        )
