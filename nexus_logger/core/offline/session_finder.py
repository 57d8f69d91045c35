"""Identifying this PC's instrument and finding the session open on it: the database's answer
when it can be reached, else what this PC knows (its outbox, its last session there)."""

from __future__ import annotations

import logging
import socket

from nexus_logger.core import timestamps
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import DatabaseUnavailable, NexusLoggerError
from nexus_logger.core.offline.database_link import DatabaseLink
from nexus_logger.core.offline.outbox import EventKind, EventState, OutboxError, OutboxEvent
from nexus_logger.core.offline.outbox_keeper import OutboxKeeper
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import OpenSession

_logger = logging.getLogger(__name__)


class SessionFinder:
    """Identify the instrument and find its open session, online or from what this PC knows."""

    def __init__(self, link: DatabaseLink, keeper: OutboxKeeper) -> None:
        self._link = link
        self._keeper = keeper

    def identify(self, *, instrument: str | None = None, use_config: bool = True) -> Instrument:
        """This PC's instrument (see :func:`lifecycle.identify_instrument`).

        The answer is kept in the outbox file; while the database is away the instrument
        identified last is used, so a session can still be started and ended.
        """
        requested = self._identity_key(instrument, use_config)
        try:
            found = lifecycle.identify_instrument(
                instrument=instrument, engine=self._link.engine(), use_config=use_config
            )
        except DatabaseUnavailable as err:
            self._link.went_offline(err)
            keys = [requested] + ([f"pid:{instrument}"] if instrument is not None else [])
            cached, unreadable = self._cached_instrument(keys)
            if unreadable is not None:
                raise DatabaseUnavailable(
                    f"{err} This PC's outbox, where it keeps the instrument it identified last, "
                    f"cannot be read either: {unreadable} Nothing was recorded: try again once "
                    "the database can be reached or the outbox used."
                ) from err
            if cached is None:
                # The first sentence is what the window shows at "Identifying the instrument".
                raise DatabaseUnavailable(
                    "This PC does not know its instrument yet: it has not reached the database "
                    f"before, and cannot reach it now. {err} Once it has reached the database, "
                    "sessions can be kept on this PC while the database is away."
                ) from err
            _logger.warning(
                "Database unreachable; using the instrument identified last: %s",
                cached.instrument_pid,
            )
            return cached
        self._link.came_online()
        self._keeper.call(
            self._keeper.outbox.remember_instrument, self._keeper.database_key, requested, found
        )
        return found

    def _cached_instrument(self, keys: list[str]) -> tuple[Instrument | None, OutboxError | None]:
        """The instrument identified last under the first of ``keys`` known, or why the
        outbox could not say (a full disk is not "never reached that database")."""
        for key in keys:
            try:
                found = self._keeper.outbox.cached_instrument(self._keeper.database_key, key)
            except OutboxError as err:
                self._keeper.failed(err)
                return None, err
            if found is not None:
                return found, None
        return None, None

    def _identity_key(self, instrument: str | None, use_config: bool) -> str:
        if instrument is None and use_config:
            try:
                from nexus_logger.core.settings.config import load_settings

                instrument = load_settings().instrument or None
            except NexusLoggerError:
                instrument = None
        if instrument:
            return f"pid:{instrument.strip()}"
        return f"host:{socket.gethostname().casefold()}"

    def _instrument_for(self, pid: str, timezone: str) -> Instrument:
        cached = self._keeper.call(
            self._keeper.outbox.cached_instrument, self._keeper.database_key, f"pid:{pid}"
        )
        if cached is not None:
            return cached
        return Instrument(instrument_pid=pid, display_name=pid, timezone=timezone)

    def find_open(self, instrument_pid: str) -> OpenSession | None:
        """The session open on the instrument: the database's answer when it can be reached.

        Events waiting on this PC are sent first. When the database cannot be reached, the
        answer is what this PC knows, and :attr:`offline_reason` says so: the session whose
        START waits here (``kept_since`` set), else the one this PC last ran on the instrument
        (its local heartbeat file), unless its END waits here.
        """
        try:
            eng = self._keeper.engine_after_waiting()
            found = lifecycle.find_open_session(instrument_pid, engine=eng)
        except DatabaseUnavailable as err:
            _logger.info("Database unreachable (%s); the open session is what this PC knows", err)
            self._link.went_offline(err)
            return self.kept_session(instrument_pid, offline=True)
        self._link.came_online()
        # The database has answered: what this login's record says runs here and is not that
        # answer ended elsewhere (staff, another PC); it must not come back at the next outage.
        for ident, _entry in lifecycle.open_here(instrument_pid, self._keeper.database_key):
            if found is None or ident != found.session_identifier:
                lifecycle.forget_open_here(ident)
        if found is not None and self.end_waits_here(found.session_identifier):
            # Ended on this PC; its END waits to be sent (the database refuses writes now).
            found = None
        return found if found is not None else self.kept_session(instrument_pid)

    def _events(
        self, states: tuple[EventState, ...], session_identifier: str | None = None
    ) -> list[OutboxEvent]:
        """This database's events in this PC's outbox in ``states`` ([] if it cannot be read)."""
        found = self._keeper.call(
            self._keeper.outbox.items,
            database=self._keeper.database_key,
            states=states,
            session_identifier=session_identifier,
        )
        return found or []

    def end_waits_here(self, session_identifier: str) -> bool:
        """True when the session's END waits in this PC's outbox (not in the database yet)."""
        waiting = self._events((EventState.PENDING,), session_identifier)
        return any(e.kind is EventKind.END for e in waiting)

    def _known_here(self, pid: str, every: list[OutboxEvent]) -> OpenSession | None:
        """The session this PC last ran on ``pid`` (its record, whichever login started it),
        unless this PC's outbox (``every``: its events in every state) holds its END, waiting,
        sent or held, whichever login's process kept it.
        """
        ended = {e.session_identifier for e in every if e.kind is EventKind.END}
        for ident, entry in reversed(lifecycle.open_here(pid, self._keeper.database_key)):
            if ident in ended:
                continue
            tz = str(entry.get("timezone") or "UTC")
            try:
                started = timestamps.parse(str(entry["started"]), tz)
            except (KeyError, timestamps.TimestampError):
                continue
            return OpenSession(
                session_identifier=ident,
                instrument=self._instrument_for(pid, tz),
                user=entry.get("user"),
                started=started.astimezone(timestamps.zone(tz)),
                start_text=str(entry["started"]),
                last_heartbeat=lifecycle.local_heartbeat(ident, tz),
                hostname=entry.get("hostname"),
            )
        return None

    def kept_session(self, pid: str, *, offline: bool = False) -> OpenSession | None:
        """The newest START of this PC for ``pid`` still waiting, whose user saw it, without END.

        ``offline``: else the session this PC last ran there (the database cannot tell).
        """
        # One read of the outbox: what waits, and (offline) every END it holds.
        every = self._events(tuple(EventState) if offline else (EventState.PENDING,))
        waiting = [e for e in every if e.state is EventState.PENDING]
        ended = {e.session_identifier for e in waiting if e.kind is EventKind.END}
        starts = [
            e
            for e in waiting
            if e.kind is EventKind.START
            and e.instrument_pid == pid
            and e.confirmed
            and e.session_identifier not in ended
        ]
        if starts:
            return self.session_from_event(starts[-1])
        return self._known_here(pid, every) if offline else None

    def held_session(
        self, pid: str | None = None, session_identifier: str | None = None
    ) -> OpenSession | None:
        """This PC's session whose START a conflict holds here (never written), without END:
        the newest on ``pid``, or the one named. Its user must still be able to end it: the
        END is then kept with the START (written together, or held too), never refused.

        A START whose conflict staff marked handled is given up as an event of its own, not as
        a session: its END still writes the whole session (``sender_end``), so its user can
        end it as before (the window could; ``session end`` said there was no such session).
        """
        events = self._events(tuple(EventState))
        waiting = (EventState.PENDING, EventState.HELD)
        ends = [e for e in events if e.kind is EventKind.END]
        ended_waiting = {e.session_identifier for e in ends if e.state in waiting}
        ended_at_all = {e.session_identifier for e in ends}

        def unended(e: OutboxEvent) -> bool:
            if e.state is EventState.HELD:
                return e.session_identifier not in ended_waiting
            # Skipped and confirmed: given up by a resolved conflict (an unconfirmed START
            # dropped at replay was never shown to anyone, and is not confirmed).
            return e.state is EventState.SKIPPED and e.session_identifier not in ended_at_all

        held = [
            e
            for e in events
            if e.kind is EventKind.START
            and e.confirmed
            and unended(e)
            and (pid is None or e.instrument_pid == pid)
            and (session_identifier is None or e.session_identifier == session_identifier)
        ]
        return self.session_from_event(held[-1]) if held else None

    def session_from_event(self, event: OutboxEvent) -> OpenSession:
        return OpenSession(
            session_identifier=event.session_identifier,
            instrument=self._instrument_for(event.instrument_pid, event.timezone),
            user=event.user,
            started=event.at,
            start_text=event.at_text,
            last_heartbeat=lifecycle.local_heartbeat(event.session_identifier, event.timezone),
            note=event.note,
            kept_since=timestamps.parse(event.created).astimezone(timestamps.zone(event.timezone)),
        )
