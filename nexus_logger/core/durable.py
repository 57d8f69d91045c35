"""Start and end sessions: the database first, this PC's outbox only when it cannot be reached.

:class:`DurableLogger` is what the CLI and the GUI call.

* **START** is one transaction in the database (:func:`lifecycle.start_session`), and its answer
  is the truth: started, or refused because a session is open. Only when the database cannot be
  reached (:class:`~nexus_logger.core.errors.DatabaseUnavailable`: connection refused or timed
  out, or locked past ``db_timeout_seconds``) is the START kept in the outbox, and the user told
  exactly that. Such a START counts once the user has been told (:meth:`DurableLogger.confirm`);
  one the user never saw is not a session (:mod:`~nexus_logger.core.sender`).
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
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Engine

from nexus_logger.core import faults, lifecycle, other_login, sender, timestamps
from nexus_logger.core.engine import (
    EngineLike,
    default_database,
    engine_info,
    get_engine,
    is_url,
    parse_url,
)
from nexus_logger.core.errors import (
    ConfigError,
    DatabaseUnavailable,
    InvalidInput,
    NexusLoggerError,
)
from nexus_logger.core.identity import same_user
from nexus_logger.core.lifecycle import EndedSession, OpenSession
from nexus_logger.core.models import Instrument
from nexus_logger.core.outbox import (
    ConflictRecord,
    EventKind,
    EventState,
    Outbox,
    OutboxError,
    OutboxEvent,
)
from nexus_logger.core.time_rules import DEFAULT_RULES, TimeRules, localize
from nexus_logger.core.validation import clean_user

_logger = logging.getLogger(__name__)

#: What the user reads after an END the database took (the window may say more about files).
ENDED_WILL_BUILD = "Session ended. NexusLIMS will build its record."

#: How often the window should call :meth:`DurableLogger.sync` while events wait (seconds).
RETRY_SECONDS = 30
#: How long ``sync`` waits for another process that is sending the same outbox.
LOCK_WAIT_SECONDS = 5.0
#: After the database could not be reached, calls within this many seconds fail at once, so
#: that one action (identify, find, end) waits one timeout, not one per step.
_DOWN_SECONDS = 2.0

QUEUED_START = (
    "The database cannot be reached right now. The session start is saved on this PC and will "
    "be sent automatically."
)
QUEUED_END = (
    "The database cannot be reached right now. The session end is saved on this PC and will "
    "be sent automatically."
)


@dataclass(frozen=True)
class StartOutcome:
    """What :meth:`DurableLogger.start` did."""

    session: OpenSession
    created: bool  # False when an open session already existed (shown in ``session``)
    queued: bool  # True when kept in the local outbox because the database was not reached
    message: str  # a plain sentence for the user
    event_id: int | None = None  # the outbox event of a kept START (see DurableLogger.confirm)


@dataclass(frozen=True)
class EndOutcome:
    """What :meth:`DurableLogger.end` did."""

    session_identifier: str
    started: datetime | None
    ended: datetime
    queued: bool  # kept on this PC: the database was not reached, or a conflict holds it
    message: str
    already_ended: bool = False  # the database had an END already (staff, another PC)


@dataclass(frozen=True)
class SyncReport:
    """The result of one run of sending the outbox."""

    sent: int = 0  # events written to the database (or found there already) in this run
    pending: int = 0  # events still waiting for this database afterwards (pending + held)
    conflicts: tuple[ConflictRecord, ...] = ()  # conflicts found in this run
    error: str | None = None  # why the run stopped early (database unreachable), if it did
    busy: bool = False  # another process was sending this outbox; nothing was done
    held: int = 0  # of ``pending``: events held because of a conflict (not sent by themselves)
    dropped: int = 0  # STARTs given up because their user was never told about them

    @property
    def complete(self) -> bool:
        """True when nothing is left waiting and nobody else is still sending."""
        return self.pending == 0 and not self.busy

    @property
    def message(self) -> str:
        """One or two sentences for a status line or the CLI."""
        if self.busy:
            return (
                "Another nexus-logger on this PC is sending saved events right now; "
                f"{self.pending} still waiting."
            )
        parts = []
        if self.sent:
            parts.append(f"Sent {self.sent} saved event{'s' if self.sent != 1 else ''}.")
        if self.dropped:
            parts.append(
                f"Gave up {self.dropped} session start{'s' if self.dropped != 1 else ''} that "
                "nobody was told about (the program ended first); see the log."
            )
        if self.conflicts:
            n = len(self.conflicts)
            parts.append(
                f"{n} conflict{'s' if n != 1 else ''} found; see 'nexus-logger sync --status'."
            )
        queued = self.pending - self.held
        if queued:
            waiting = f"{queued} event{'s' if queued != 1 else ''} still waiting"
            parts.append(f"{waiting}: {self.error}" if self.error else f"{waiting}.")
        if self.held:
            parts.append(
                f"{self.held} event{'s' if self.held != 1 else ''} held on this PC because of "
                "a conflict; see 'nexus-logger sync --status'."
            )
        if not parts:
            parts.append("Nothing to send: every event is in the database.")
        return " ".join(parts)


def database_key(target: EngineLike) -> str:
    """A stable name for a database, without a password, that outbox events are filed under.

    The same file or server gives the same key however it was spelled, so that an event is
    sent to the database it was meant for even if another one is configured meanwhile.
    """
    if isinstance(target, Engine):
        if target.url.get_backend_name() == "sqlite":
            path = engine_info(target).get("nexus_path") or target.url.database or ""
            return _path_key(path)
        return _url_key(target.url.render_as_string(hide_password=False))
    text = os.fspath(target) if target is not None else default_database()
    text = text.strip()
    if is_url(text):
        return _url_key(text)
    return _path_key(text)


def _path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(os.path.expanduser(path)))


def _url_key(text: str) -> str:
    try:
        url = parse_url(text)
    except ConfigError:
        return text
    if url.get_backend_name() == "sqlite":
        return _path_key(url.database or "")
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=True)


class DurableLogger:
    """Start, end and replace sessions; keep events on this PC while the database is away.

    Safe to share between threads (calls are serialised) and between processes on one PC. The
    window runs it on its database worker: :meth:`sync` at launch and every
    :data:`RETRY_SECONDS` while :meth:`pending_count` is not zero.
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
        self._target = database
        self._timeout = timeout
        self.rules = rules
        #: Why this login keeps events in its own folder, not the PC's (told once); or None.
        self.outbox_place_problem: str | None = None
        if outbox_path is None:  # this PC's outbox (or the fallback): see outbox_place
            from nexus_logger.core.outbox_place import open_outbox

            self.outbox, place = open_outbox(outbox_folder)
            self.outbox_place_problem = place.problem
        else:
            self.outbox = Outbox(outbox_path)
        self.database_key = database_key(database)
        self._lock = threading.RLock()
        self._file_lock = FileLock(
            str(self.outbox.path) + ".lock", thread_local=False, is_singleton=False
        )
        self._lock_wait = lock_wait
        self._pruned = False
        #: Why the database could not be reached at the last attempt; None after a success.
        self.offline_reason: str | None = None
        self._down_until = 0.0  # see _went_offline
        #: Why nothing can be kept on this PC (the outbox cannot be written); None when it can.
        self.outbox_problem: str | None = None
        self._outbox_warned = False
        self._moved_told = False
        self._place_told = False

    # -- the database ---------------------------------------------------------------------

    def engine(self) -> Engine:
        """The shared database's engine; :class:`DatabaseUnavailable` if its file is missing.

        A configured SQLite file that has vanished is a share that is not connected (or a file
        moved away for a moment), so it is treated like an unreachable server. A folder named
        as the database is a configuration mistake, not an outage.
        """
        if self.offline_reason is not None and time.monotonic() < self._down_until:
            # It just failed: one action (identify, find, end) waits once, not once per step.
            raise DatabaseUnavailable(self.offline_reason)
        if isinstance(self._target, Engine):
            return self._target
        text = os.fspath(self._target) if self._target is not None else default_database()
        if not is_url(text):
            path = Path(text).expanduser()
            try:
                present, folder = path.is_file(), path.is_dir()
            except OSError:
                present = folder = False
            if folder:
                raise ConfigError(
                    f"The database {path} is a folder, not a database file. Set the database "
                    "to the NexusLIMS file inside it (for example nexuslims_db.sqlite)."
                )
            if not present:
                raise DatabaseUnavailable(
                    f"The database file {path} cannot be reached (it is missing or its share is "
                    "not connected)."
                )
        return get_engine(text, timeout=self._timeout)

    def _went_offline(self, err: BaseException | str) -> None:
        """Remember why the database could not be reached; after a wait, for a few seconds.

        Only a failure that waited out the timeout (a lock, a silent server) is remembered: the
        next steps of the same action then fail at once instead of waiting again. A failure that
        came at once (a missing file) costs nothing to try again.
        """
        self.offline_reason = str(err)
        low = self.offline_reason.lower()
        if "locked" in low or "timed out" in low or "timeout" in low:
            self._down_until = time.monotonic() + _DOWN_SECONDS

    def _came_online(self) -> None:
        self.offline_reason = None
        self._down_until = 0.0

    # -- identify and find ----------------------------------------------------------------

    def identify(self, *, instrument: str | None = None, use_config: bool = True) -> Instrument:
        """This PC's instrument (see :func:`lifecycle.identify_instrument`).

        The answer is kept in the outbox file; while the database is away the instrument
        identified last is used, so a session can still be started and ended.
        """
        requested = self._identity_key(instrument, use_config)
        try:
            found = lifecycle.identify_instrument(
                instrument=instrument, engine=self.engine(), use_config=use_config
            )
        except DatabaseUnavailable as err:
            self._went_offline(err)
            cached = self._outbox_call(self.outbox.cached_instrument, self.database_key, requested)
            if cached is None and instrument is not None:
                cached = self._outbox_call(
                    self.outbox.cached_instrument, self.database_key, f"pid:{instrument}"
                )
            if cached is None:
                raise DatabaseUnavailable(
                    f"{err} This PC has not reached that database before, so it does not know "
                    "its instrument yet and cannot keep sessions offline. Check the connection "
                    "and the database setting."
                ) from err
            _logger.warning(
                "Database unreachable; using the instrument identified last: %s",
                cached.instrument_pid,
            )
            return cached
        self._came_online()
        self._outbox_call(self.outbox.remember_instrument, self.database_key, requested, found)
        return found

    def _identity_key(self, instrument: str | None, use_config: bool) -> str:
        if instrument is None and use_config:
            try:
                from nexus_logger.core.config import load_settings

                instrument = load_settings().instrument or None
            except NexusLoggerError:
                instrument = None
        if instrument:
            return f"pid:{instrument.strip()}"
        return f"host:{socket.gethostname().casefold()}"

    def _instrument_for(self, pid: str, timezone: str) -> Instrument:
        cached = self._outbox_call(self.outbox.cached_instrument, self.database_key, f"pid:{pid}")
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
        with self._lock:
            try:
                eng = self.engine()
                run = self._send_if_free(eng)
                if run.error is not None:
                    raise DatabaseUnavailable(run.error)
                found = lifecycle.find_open_session(instrument_pid, engine=eng)
            except DatabaseUnavailable as err:
                _logger.info("Open session as this PC knows it: %s", err)
                self._went_offline(err)
                return self._kept_session(instrument_pid, offline=True)
            self._came_online()
            return found if found is not None else self._kept_session(instrument_pid)

    def _known_here(self, pid: str, waiting: list[OutboxEvent]) -> OpenSession | None:
        """The session this PC last ran on ``pid`` (its local file), unless its END waits here."""
        ended = {e.session_identifier for e in waiting if e.kind is EventKind.END}
        for ident, entry in reversed(lifecycle.open_here(pid)):
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

    def _kept_session(self, pid: str, *, offline: bool = False) -> OpenSession | None:
        """The newest START of this PC for ``pid`` still waiting, whose user saw it, without END.

        ``offline``: else the session this PC last ran there (the database cannot tell).
        """
        waiting = (
            self._outbox_call(
                self.outbox.items, database=self.database_key, states=(EventState.PENDING,)
            )
            or []
        )
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
            return self._session_from_event(starts[-1])
        return self._known_here(pid, waiting) if offline else None

    def _session_from_event(self, event: OutboxEvent) -> OpenSession:
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

    # -- start, end, replace ----------------------------------------------------------------

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
                eng = self.engine()
                run = self._send_if_free(eng)
                if run.error is not None:
                    raise DatabaseUnavailable(run.error)
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
        tz = session.instrument.timezone
        when = timestamps.now_in(tz) if at is None else localize(at, tz, "end time")
        if when < session.started:
            raise InvalidInput(
                f"The end time {timestamps.to_db(when, tz)} is before the session started "
                f"({session.start_text}). Give a later end time."
            )
        self.rules.check(when, "end time", typed=typed)
        ident = session.session_identifier
        with self._lock:
            earlier = self._outbox_call(
                self.outbox.items, database=self.database_key, session_identifier=ident
            )
            waiting = [e for e in earlier or () if e.kind is EventKind.END]
            event = waiting[0] if waiting else self._keep_end(session, when, ended_by)
            if event is None:  # nothing can be kept here: straight to the database
                return self._end_directly(session, when, ended_by)
            faults.point("end:kept")
            try:
                eng = self.engine()
            except DatabaseUnavailable as err:
                return self._end_outcome(session, event, None, err)
            run = self._send_if_free(eng, live_id=event.id)
            current = self.outbox.get(event.id)
            if current.state is EventState.PENDING and run.error is None and not run.attempted:
                # Another process is sending this outbox: send this END alone (idempotent).
                run = sender.Run(attempted=True, live_id=event.id)
                try:
                    sender.send_end(self.outbox, eng, current, run, self.rules)
                except DatabaseUnavailable as err:
                    run.error = str(err)
            faults.point("end:sent")
            error = DatabaseUnavailable(run.error) if run.error else None
            return self._end_outcome(session, self.outbox.get(event.id), run, error)

    def _keep_end(
        self, session: OpenSession, when: datetime, ended_by: str | None
    ) -> OutboxEvent | None:
        tz = session.instrument.timezone
        try:
            event = self.outbox.add(
                EventKind.END,
                database=self.database_key,
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
            self._outbox_failed(err)
            return None
        self._outbox_works()
        return event

    def _end_directly(
        self, session: OpenSession, when: datetime, ended_by: str | None
    ) -> EndOutcome:
        if session.kept_on_pc:
            raise DatabaseUnavailable(
                f"This session exists only on this PC, and the outbox holding it cannot be "
                f"used: {self.outbox_problem}"
            )
        ident = session.session_identifier
        try:
            if ended_by:
                ended = other_login.end_now(
                    self.engine(), session_identifier=ident, at=when, by=ended_by, rules=self.rules
                )
            else:
                ended = lifecycle.end_session(
                    session_identifier=ident, at=when, engine=self.engine(), rules=self.rules
                )
        except DatabaseUnavailable as err:
            self._went_offline(err)
            raise DatabaseUnavailable(
                f"{err} The session end cannot be kept on this PC either: {self.outbox_problem} "
                "Nothing was recorded: end the session again once either works."
            ) from err
        self._came_online()
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
            if error is not None:
                self._went_offline(error)
            _logger.warning("END %s kept on this PC: %s", ident, error)
            return EndOutcome(
                ident, session.started, event.at, True, self._with_warning(QUEUED_END)
            )
        self._came_online()
        if event.state is EventState.HELD:
            return EndOutcome(
                ident,
                session.started,
                event.at,
                True,
                "The session end is kept on this PC: it conflicts with what the database "
                "holds. Facility staff will see it in the Admin tab.",
            )
        ended = run.ended.get(event.id) if run is not None else None
        if ended is None:  # sent by another process meanwhile
            return EndOutcome(
                ident,
                session.started,
                event.at,
                False,
                self._with_warning(ENDED_WILL_BUILD),
            )
        return self._ended(session, ended, event.at)

    def _ended(self, session: OpenSession, ended: EndedSession, asked: datetime) -> EndOutcome:
        earlier = ended.already_ended and abs((ended.ended - asked).total_seconds()) >= 1e-3
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
            self._with_warning(message),
            already_ended=earlier,
        )

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

    # -- the outbox -----------------------------------------------------------------------

    def pending_count(self) -> int:
        """Events for this database not yet in it (pending and held)."""
        return self.outbox.pending_count(self.database_key)

    def pending_events(self) -> list[OutboxEvent]:
        """Those events, oldest first."""
        return self.outbox.items(database=self.database_key)

    def conflicts(self, *, include_handled: bool = False) -> list[ConflictRecord]:
        """Conflicts found while sending (every database), not yet handled by default."""
        return self.outbox.conflicts(include_handled=include_handled)

    def resolve_conflict(
        self, conflict_id: int, *, by: str | None = None, note: str | None = None
    ) -> ConflictRecord:
        """Mark a conflict handled (see :meth:`Outbox.resolve`)."""
        who = by or os_login()
        return self.outbox.resolve(conflict_id, by=who, note=note)

    def retry(self, event_id: int) -> SyncReport:
        """Put a held event back in line and send at once."""
        self.outbox.retry(event_id)
        return self.sync()

    def sync(self) -> SyncReport:
        """Send every waiting event of this database, in order; safe to call at any time.

        Waits up to ``lock_wait`` for another process sending the same outbox (the report
        then says ``busy``). Stops at the first event the database cannot take for now (it
        stays waiting, and so do the ones after it). Never raises for an unreachable database.
        """
        with self._lock:
            self._down_until = 0.0  # asked to send now: try the database again, whatever failed
            try:
                self._file_lock.acquire(timeout=self._lock_wait)
            except FileLockTimeout:
                _logger.info("Outbox not sent: another process is sending it")
                return SyncReport(pending=self.pending_count(), busy=True)
            try:
                run = self._send_locked()
            finally:
                self._file_lock.release()
            return self._report(run)

    def check_reachable(self) -> None:
        """Ask the database now (``SELECT 1``); :class:`DatabaseUnavailable` if it does not answer."""
        from nexus_logger.core.engine import read_connection

        with self._lock:
            self._down_until = 0.0
            try:
                with read_connection(self.engine()) as conn:
                    conn.exec_driver_sql("SELECT 1")
            except DatabaseUnavailable as err:
                self._went_offline(err)
                raise
            self._came_online()

    def _send_if_free(self, eng: Engine, live_id: int | None = None) -> sender.Run:
        """Send what waits, unless nothing does or another process is sending it right now."""
        if not self._outbox_call(self.outbox.pending_count, self.database_key):
            return sender.Run()
        try:
            self._file_lock.acquire(timeout=0)
        except FileLockTimeout:
            return sender.Run()
        try:
            run = self._send_locked(eng, live_id)
        finally:
            self._file_lock.release()
        self._report(run)
        return run

    def _send_locked(self, eng: Engine | None = None, live_id: int | None = None) -> sender.Run:
        try:
            eng = eng or self.engine()
        except DatabaseUnavailable as err:
            return sender.Run(error=str(err))
        run = sender.send_waiting(self.outbox, eng, self.database_key, self.rules, live_id)
        if not self._pruned:
            self._pruned = True
            self._outbox_call(self.outbox.prune)
        if run.error is not None:
            self._went_offline(run.error)
        elif run.attempted:
            self._came_online()
        return run

    def _report(self, run: sender.Run) -> SyncReport:
        held = len(self.outbox.items(database=self.database_key, states=(EventState.HELD,)))
        report = SyncReport(
            sent=run.sent,
            pending=self.pending_count(),
            conflicts=tuple(run.conflicts),
            error=run.error,
            held=held,
            dropped=run.dropped,
        )
        if run.sent or run.conflicts or run.dropped or run.error:
            _logger.info("Outbox sent: %s", report.message)
        return report

    # -- when the outbox cannot be written -----------------------------------------------

    def _outbox_call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Call an outbox method for a convenience (a cache, a count); a failure only warns."""
        try:
            return fn(*args, **kwargs)
        except OutboxError as err:
            self._outbox_failed(err)
            return None

    def _outbox_failed(self, err: OutboxError) -> None:
        if self.outbox_problem != str(err):
            _logger.error("Offline protection is off: %s", err)
            self._outbox_warned = False  # a new reason: say it once more
        self.outbox_problem = str(err)

    def _outbox_works(self) -> None:
        """An outbox write succeeded: offline protection is on again (after space was freed)."""
        if self.outbox_problem is not None:
            _logger.info("The local outbox can be written again; offline protection is on.")
        self.outbox_problem = None

    def _with_warning(self, message: str) -> str:
        """``message``, plus (once each) what the user must know about this PC's outbox."""
        notes = []
        moved = self.outbox.moved_aside
        if moved is not None and not self._moved_told:
            self._moved_told = True
            notes.append(
                f"The local outbox was damaged; it was kept as {moved} and a new one started "
                "(tell facility staff: events that waited in it were not sent)."
            )
        if self.outbox_place_problem is not None and not self._place_told:
            self._place_told = True
            notes.append(f"Warning: {self.outbox_place_problem}")
        if self.outbox_problem is not None and not self._outbox_warned:
            self._outbox_warned = True
            notes.append(
                "Warning: nothing can be kept on this PC if the database goes away: "
                f"{self.outbox_problem}"
            )
        return " ".join([message, *notes])


def _who(session: OpenSession) -> str:
    """ "user alice since 2026-12-02 08:36 (PC lab-pc-1)" for messages."""
    where = f", PC {session.hostname}" if session.hostname else ""
    return f"user {session.user or 'unknown'} since {session.started:%Y-%m-%d %H:%M}{where}"


def os_login() -> str:
    """The process's real OS account, for "handled by" (never fails; never ``LOGNAME``)."""
    from nexus_logger.core.identity import os_login as real_login

    try:
        return real_login() or "unknown"
    except Exception:  # no account name available (service account, odd environment)
        return "unknown"
