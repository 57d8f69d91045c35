"""Start and end sessions without ever losing an event, even when the database is away.

:class:`DurableLogger` is what the CLI and the GUI call. Every START or END is first written to
the local outbox (:mod:`nexus_logger.core.outbox`, fsynced), then sent to the shared database
together with anything still waiting, in the order it happened. So:

* when the database answers, the event is written at once, exactly as
  :mod:`nexus_logger.core.lifecycle` writes it (an END and the status change of START and END
  commit together), and the user sees the result;
* when it cannot be reached or stays locked past the timeout
  (:class:`~nexus_logger.core.errors.DatabaseUnavailable`, and only then) the event stays in
  the outbox, the user is told so plainly, and :meth:`DurableLogger.sync` sends it later: in
  the background while the window is open, at the next launch, or with ``nexus-logger sync``;
* if the program dies between the database commit and the outbox update, the replay finds the
  event already in the database and writes nothing (a START is identified by its
  ``session_identifier``; an END by its session, and a session has only one END).

Replays never duplicate a row, and events after a conflict are not held back by it: the
situations a replay cannot apply as recorded (a START while another session was opened
meanwhile, an END whose START is missing, an END for a session staff ended already) each get
the outcome documented in ``docs/outbox.md`` and stay listed until someone marks them handled.

Within one PC, replays are serialised by a file lock next to the outbox, so the window and a
``nexus-logger sync`` started by hand never send the same event at the same time.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Engine, insert, select

from nexus_logger.core import lifecycle, timestamps
from nexus_logger.core.engine import (
    EngineLike,
    default_database,
    engine_info,
    get_engine,
    is_url,
    parse_url,
    write_transaction,
)
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import (
    ConfigError,
    DatabaseUnavailable,
    InvalidInput,
    NexusLoggerError,
    NotFound,
)
from nexus_logger.core.lifecycle import EndedSession, OpenSession
from nexus_logger.core.logger_tables import ensure_tables
from nexus_logger.core.logger_tables import note as note_table
from nexus_logger.core.models import Instrument, SessionLogEntry
from nexus_logger.core.outbox import (
    ConflictKind,
    ConflictRecord,
    EventKind,
    EventState,
    KnownOpen,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.validation import clean_user

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__

#: How often the window should call :meth:`DurableLogger.sync` while events wait (seconds).
RETRY_SECONDS = 30
#: How long an action waits for another process that is replaying the same outbox.
LOCK_WAIT_SECONDS = 5.0

QUEUED_START = (
    "The database cannot be reached right now. The session start is saved on this PC and will "
    "be sent automatically."
)
QUEUED_END = (
    "The database cannot be reached right now. The session end is saved on this PC and will "
    "be sent automatically."
)
_BUSY = (
    "Another nexus-logger on this PC is sending saved events. The session {what} is saved on "
    "this PC and will be sent automatically."
)


@dataclass(frozen=True)
class StartOutcome:
    """What :meth:`DurableLogger.start` did."""

    session: OpenSession  # for a queued START, built from the cached instrument
    created: bool  # False when an open session already existed
    queued: bool  # True when kept in the local outbox instead of the database
    message: str  # a plain sentence for the user


@dataclass(frozen=True)
class EndOutcome:
    """What :meth:`DurableLogger.end` did."""

    session_identifier: str
    started: datetime | None
    ended: datetime
    queued: bool
    message: str
    already_ended: bool = False  # the database had an END already (staff, another PC)


@dataclass(frozen=True)
class SyncReport:
    """The result of one replay of the outbox."""

    sent: int = 0  # events written to the database (or found there already) in this run
    pending: int = 0  # events still waiting for this database afterwards (pending + held)
    conflicts: tuple[ConflictRecord, ...] = ()  # conflicts found in this run
    error: str | None = None  # why the run stopped early (database unreachable), if it did
    busy: bool = False  # another process was replaying this outbox; nothing was done
    held: int = 0  # of ``pending``: events held because of a conflict (not sent by themselves)

    @property
    def complete(self) -> bool:
        """True when nothing is left waiting."""
        return self.pending == 0

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


def _instant_equal(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1e-3


@dataclass
class _Live:
    """The outcome of the event the user just asked for (not a replay of an older one)."""

    event_id: int
    result: Any = None
    error: NexusLoggerError | None = None
    applied: bool = False


@dataclass
class _Run:
    attempted: bool = False  # the database was contacted
    sent: int = 0
    conflicts: list[ConflictRecord] = field(default_factory=list)
    error: str | None = None


class DurableLogger:
    """Start, end and replace sessions; keep events locally while the database is away.

    Safe to share between threads (calls are serialised) and between processes on one PC
    (replays are serialised by a file lock next to the outbox). The window runs it on its
    database worker: :meth:`sync` at launch and every :data:`RETRY_SECONDS` while
    :meth:`pending_count` is not zero.
    """

    def __init__(
        self,
        database: EngineLike = None,
        *,
        outbox_path: Path | None = None,
        lock_wait: float = LOCK_WAIT_SECONDS,
        timeout: float | None = None,
    ) -> None:
        self._target = database
        self._timeout = timeout
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

    # -- the database ---------------------------------------------------------------------

    def engine(self) -> Engine:
        """The shared database's engine; :class:`DatabaseUnavailable` if its file is missing.

        A configured SQLite file that has vanished is a share that is not connected (or a file
        moved away for a moment), so it is treated like an unreachable server.
        """
        if isinstance(self._target, Engine):
            return self._target
        text = os.fspath(self._target) if self._target is not None else default_database()
        if not is_url(text):
            path = Path(text).expanduser()
            try:
                present = path.is_file()
            except OSError:
                present = False
            if not present:
                raise DatabaseUnavailable(
                    f"The database file {path} cannot be reached (it is missing or its share is "
                    "not connected)."
                )
        return get_engine(text, timeout=self._timeout)

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
            self.offline_reason = str(err)
            cached = self.outbox.cached_instrument(self.database_key, requested)
            if cached is None and instrument is not None:
                cached = self.outbox.cached_instrument(self.database_key, f"pid:{instrument}")
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
        self.offline_reason = None
        self.outbox.remember_instrument(self.database_key, requested, found)
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
        cached = self.outbox.cached_instrument(self.database_key, f"pid:{pid}")
        if cached is not None:
            return cached
        return Instrument(instrument_pid=pid, display_name=pid, timezone=timezone)

    def find_open(self, instrument_pid: str) -> OpenSession | None:
        """The session open on the instrument, as this PC knows it.

        Online: the database's open session, corrected by the events still in the outbox (a
        START kept here is open; a session whose END is kept here is not). Offline: the same,
        from the session this PC last saw open.
        """
        with self._lock:
            waiting = [
                e
                for e in self.outbox.items(database=self.database_key)
                if e.instrument_pid == instrument_pid
            ]
            try:
                found = lifecycle.find_open_session(instrument_pid, engine=self.engine())
            except DatabaseUnavailable as err:
                _logger.info("find_open from local state: %s", err)
                self.offline_reason = str(err)
                found = self._known_open(instrument_pid)
            else:
                self.offline_reason = None
                self._remember_open(instrument_pid, found)
            return self._merge_open(found, waiting)

    def _known_open(self, pid: str) -> OpenSession | None:
        known = self.outbox.known_open(self.database_key, pid)
        if known is None:
            return None
        return OpenSession(
            session_identifier=known.session_identifier,
            instrument=self._instrument_for(pid, known.timezone),
            user=known.user,
            started=timestamps.parse(known.start_text, known.timezone).astimezone(
                timestamps.zone(known.timezone)
            ),
            start_text=known.start_text,
            last_heartbeat=lifecycle.local_heartbeat(known.session_identifier, known.timezone),
            note=known.note,
        )

    def _merge_open(
        self, found: OpenSession | None, waiting: list[OutboxEvent]
    ) -> OpenSession | None:
        ended = {e.session_identifier for e in waiting if e.kind is EventKind.END}
        starts = [
            e for e in waiting if e.kind is EventKind.START and e.session_identifier not in ended
        ]
        if starts:
            return self._session_from_event(starts[-1])
        if found is not None and found.session_identifier not in ended:
            return found
        return None

    def _session_from_event(self, event: OutboxEvent) -> OpenSession:
        return OpenSession(
            session_identifier=event.session_identifier,
            instrument=self._instrument_for(event.instrument_pid, event.timezone),
            user=event.user,
            started=event.at,
            start_text=event.at_text,
            last_heartbeat=lifecycle.local_heartbeat(event.session_identifier, event.timezone),
            note=event.note,
        )

    def _remember_open(self, pid: str, session: OpenSession | None) -> None:
        known = None
        if session is not None:
            known = KnownOpen(
                session.session_identifier,
                pid,
                session.user,
                session.start_text,
                session.instrument.timezone,
                session.note,
            )
        try:
            self.outbox.remember_open(self.database_key, pid, known)
        except NexusLoggerError as err:  # only a cache: never fail the action for it
            _logger.warning("Could not note the open session on this PC: %s", err)

    # -- start, end, replace ----------------------------------------------------------------

    def start(
        self,
        *,
        instrument: Instrument,
        user: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> StartOutcome:
        """Start a session for ``user`` now (or at ``at``); queued locally if the database is away.

        If a session is already open on the instrument (in the database, or known to this PC
        while offline), nothing is started and that session comes back with ``created=False``.
        A naive ``at`` is in the instrument's zone.
        """
        name = clean_user(user)
        text = lifecycle.clean_note(note)
        tz = instrument.timezone
        if at is None:
            at = timestamps.now_in(tz)
        with self._lock:
            event = self.outbox.add(
                EventKind.START,
                database=self.database_key,
                session_identifier=str(uuid.uuid4()),
                instrument_pid=instrument.instrument_pid,
                timezone=tz,
                at_text=timestamps.to_db(at, tz),
                user=name,
                note=text,
            )
            live, report = self._sync_with_live(event)
            if live.error is not None:
                raise live.error
            if live.applied:
                result: lifecycle.StartResult = live.result
                if result.created:
                    message = f"Session started on {instrument.display_name} for {name}."
                else:
                    s = result.session
                    message = (
                        f"A session is already open on {instrument.display_name} "
                        f"(user {s.user}, since {s.started:%Y-%m-%d %H:%M})."
                    )
                return StartOutcome(result.session, result.created, False, message)
            # Not in the database yet. Unless this PC knows a session is open, it is queued.
            current = self.outbox.get(event.id)
            if current.state is EventState.PENDING:
                other = self._open_known_offline(instrument, exclude=event.session_identifier)
                if other is not None:
                    self.outbox.set_state(
                        event.id,
                        EventState.SKIPPED,
                        error="not needed: a session was already open (offline)",
                    )
                    return StartOutcome(
                        other,
                        False,
                        False,
                        f"A session is already open on {instrument.display_name} (user "
                        f"{other.user}, since {other.started:%Y-%m-%d %H:%M}).",
                    )
            message = _BUSY.format(what="start") if report.busy else QUEUED_START
            _logger.warning("START %s kept on this PC: %s", event.session_identifier, report.error)
            return StartOutcome(self._session_from_event(current), True, True, message)

    def _open_known_offline(self, instrument: Instrument, *, exclude: str) -> OpenSession | None:
        pid = instrument.instrument_pid
        waiting = [
            e
            for e in self.outbox.items(database=self.database_key)
            if e.instrument_pid == pid and e.session_identifier != exclude
        ]
        return self._merge_open(self._known_open(pid), waiting)

    def end(self, session: OpenSession, *, at: datetime | None = None) -> EndOutcome:
        """End ``session`` (now, or at ``at``); queued locally if the database is away.

        The END keeps the session's start time, user and note, so that the session can still
        be written whole if its START turns out to be missing from the database.
        """
        tz = session.instrument.timezone
        when = at if at is not None else timestamps.now_in(tz)
        if timestamps.parse(timestamps.to_db(when, tz)) < session.started:
            raise InvalidInput(
                f"The end time {timestamps.to_db(when, tz)} is before the session started "
                f"({session.start_text}). Give a later end time."
            )
        with self._lock:
            waiting = [
                e
                for e in self.outbox.items(session_identifier=session.session_identifier)
                if e.kind is EventKind.END and e.database == self.database_key
            ]
            if waiting:  # ended already on this PC (a second click, a script run twice)
                first = waiting[0]
                report = self.sync()
                if self.outbox.get(first.id).state in (EventState.SENT, EventState.SKIPPED):
                    message = "Session ended. NexusLIMS will build its record."
                    return EndOutcome(
                        session.session_identifier, session.started, first.at, False, message
                    )
                message = _BUSY.format(what="end") if report.busy else QUEUED_END
                return EndOutcome(
                    session.session_identifier, session.started, first.at, True, message
                )
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
            )
            live, report = self._sync_with_live(event)
            if live.error is not None:
                raise live.error
            if live.applied:
                ended: EndedSession = live.result
                earlier = ended.already_ended and not _instant_equal(ended.ended, event.at)
                if earlier:
                    message = (
                        f"This session had already been ended at {ended.ended:%Y-%m-%d %H:%M} "
                        "(by staff or another PC); nothing else was changed."
                    )
                else:
                    message = "Session ended. NexusLIMS will build its record."
                return EndOutcome(
                    session.session_identifier,
                    ended.started,
                    ended.ended,
                    False,
                    message,
                    already_ended=earlier,
                )
            message = _BUSY.format(what="end") if report.busy else QUEUED_END
            _logger.warning("END %s kept on this PC: %s", event.session_identifier, report.error)
            return EndOutcome(session.session_identifier, session.started, event.at, True, message)

    def replace(
        self, old: OpenSession, *, end_at: datetime, user: str, note: str | None = None
    ) -> StartOutcome:
        """ "End it and start a new one": end ``old`` at ``end_at``, then start for ``user``.

        The two events go through the outbox in that order (each with the guarantees of
        :meth:`end` and :meth:`start`), so offline both are kept and sent later, in order.
        """
        name = clean_user(user)
        lifecycle.clean_note(note)
        with self._lock:
            ended = self.end(old, at=end_at)
            started = self.start(instrument=old.instrument, user=name, note=note)
        if ended.queued or started.queued:
            message = (
                "The database cannot be reached right now. Ending the old session and starting "
                "the new one are saved on this PC and will be sent automatically."
            )
            if not started.queued:
                message = f"{ended.message} {started.message}"
            return StartOutcome(started.session, started.created, True, message)
        return started

    # -- the outbox -----------------------------------------------------------------------

    def pending_count(self) -> int:
        """Events for this database not yet in it (pending and held)."""
        return self.outbox.pending_count(self.database_key)

    def pending_events(self) -> list[OutboxEvent]:
        """Those events, oldest first."""
        return self.outbox.items(database=self.database_key)

    def conflicts(self, *, include_handled: bool = False) -> list[ConflictRecord]:
        """Conflicts found by replays (of every database), not yet handled by default."""
        return self.outbox.conflicts(include_handled=include_handled)

    def resolve_conflict(
        self, conflict_id: int, *, by: str | None = None, note: str | None = None
    ) -> ConflictRecord:
        """Mark a conflict handled (see :meth:`Outbox.resolve`)."""
        who = by or os_login()
        return self.outbox.resolve(conflict_id, by=who, note=note)

    def retry(self, event_id: int) -> SyncReport:
        """Put a held event back in line and replay at once."""
        self.outbox.retry(event_id)
        return self.sync()

    def sync(self) -> SyncReport:
        """Send every waiting event of this database, in order; safe to call at any time.

        Stops at the first event the database cannot take for now (it stays waiting, and so do
        the ones after it, to keep the order). Never raises for an unreachable database: the
        report says so.
        """
        _live, report = self._sync_with_live(None)
        return report

    # -- replay -----------------------------------------------------------------------------

    def _sync_with_live(self, live_event: OutboxEvent | None) -> tuple[_Live, SyncReport]:
        live = _Live(live_event.id if live_event else -1)
        with self._lock:
            try:
                self._file_lock.acquire(timeout=self._lock_wait)
            except FileLockTimeout:
                _logger.info("Outbox replay skipped: another process is replaying it")
                return live, SyncReport(pending=self.pending_count(), busy=True)
            try:
                run = self._replay(live)
            finally:
                self._file_lock.release()
            if not self._pruned:
                self._pruned = True
                try:
                    self.outbox.prune()
                except NexusLoggerError as err:
                    _logger.warning("Could not prune the outbox: %s", err)
            if run.error is not None:
                self.offline_reason = run.error
            elif run.attempted:
                self.offline_reason = None
            held = len(self.outbox.items(database=self.database_key, states=(EventState.HELD,)))
            report = SyncReport(
                sent=run.sent,
                pending=self.pending_count(),
                conflicts=tuple(run.conflicts),
                error=run.error,
                held=held,
            )
        if run.sent or run.conflicts or (run.error and live_event is None):
            _logger.info("Outbox replay: %s", report.message)
        return live, report

    def _replay(self, live: _Live) -> _Run:
        run = _Run()
        events = self.outbox.items(database=self.database_key, states=(EventState.PENDING,))
        if not events:
            return run
        try:
            eng = self.engine()
        except DatabaseUnavailable as err:
            run.error = str(err)
            return run
        run.attempted = True
        for event in events:
            is_live = event.id == live.event_id
            try:
                if event.kind is EventKind.START:
                    self._replay_start(eng, event, run, live if is_live else None)
                else:
                    self._replay_end(eng, event, run, live if is_live else None)
            except DatabaseUnavailable as err:
                self.outbox.note_attempt(event.id, str(err))
                run.error = str(err)
                break
            except NexusLoggerError as err:
                if is_live:
                    self.outbox.set_state(event.id, EventState.SKIPPED, error=str(err))
                    live.error = err
                    continue
                self._reject(event, err, run)
            except Exception as err:  # a bug must not block every later event forever
                _logger.exception("Replaying outbox event %d failed", event.id)
                if is_live:
                    self.outbox.set_state(event.id, EventState.SKIPPED, error=repr(err))
                    raise
                self._reject(event, err, run)
        return run

    def _reject(self, event: OutboxEvent, err: BaseException, run: _Run) -> None:
        self.outbox.set_state(event.id, EventState.HELD, error=str(err))
        run.conflicts.append(
            self.outbox.add_conflict(
                event,
                ConflictKind.REJECTED,
                f"The database refused the saved {event.kind} of session "
                f"{event.session_identifier} on {event.instrument_pid} ({event.at_text}): {err} "
                "Outcome: the event is kept on this PC; fix the cause and run "
                f"'nexus-logger sync --retry {event.id}', or mark the conflict handled to give it up.",
            )
        )

    def _replay_start(self, eng: Engine, event: OutboxEvent, run: _Run, live: _Live | None) -> None:
        result = lifecycle.start_session(
            instrument=event.instrument_pid,
            user=event.user,
            note=event.note,
            at=event.at,
            session_identifier=event.session_identifier,
            engine=eng,
        )
        pid = event.instrument_pid
        if result.session.session_identifier == event.session_identifier:
            self.outbox.set_state(event.id, EventState.SENT)
            run.sent += 1
            self._remember_open(pid, result.session)
            if live is not None:
                live.applied, live.result = True, result
            elif result.created:
                self._report_overlaps(eng, event, run)
            return
        other = result.session
        self._remember_open(pid, other)
        if live is not None:
            # The user is right here: like the online path, show the open session.
            self.outbox.set_state(
                event.id, EventState.SKIPPED, error="not needed: a session was already open"
            )
            live.applied, live.result = True, result
            return
        self.outbox.set_state(event.id, EventState.HELD, error="another session is open")
        run.conflicts.append(
            self.outbox.add_conflict(
                event,
                ConflictKind.START_WHILE_OPEN,
                f"Session {event.session_identifier} was started on this PC while the database "
                f"was away ({pid}, user {event.user}, {event.at_text}), but meanwhile session "
                f"{other.session_identifier} (user {other.user}, since {other.start_text}) was "
                "opened on the instrument. Outcome: the START is kept on this PC, so the "
                "instrument never has two open sessions; when this session's END arrives, "
                "START and END are written together as a finished session (both TO_BE_BUILT). "
                "Check the overlap of the two sessions.",
            )
        )

    def _report_overlaps(self, eng: Engine, event: OutboxEvent, run: _Run) -> None:
        """A START written late may overlap sessions logged on the instrument meanwhile.

        Another PC (or staff) may have opened *and closed* a session while this PC was
        offline; nothing stops the late START then, but NexusLIMS would build two records
        over the same time. Both sessions are kept as recorded; the overlap is a conflict
        that stays listed until staff handle it.
        """
        # The session's own END, if it already waits in the outbox, bounds it.
        ends = [
            e.at
            for e in self.outbox.items(session_identifier=event.session_identifier)
            if e.kind is EventKind.END
        ]
        others = lifecycle.sessions_overlapping(
            event.instrument_pid,
            event.at,
            until=min(ends) if ends else None,
            exclude=event.session_identifier,
            engine=eng,
        )
        if not others:
            return
        listed = "; ".join(
            f"{o.session_identifier} (user {o.user}, {o.start_text} to {o.end_text or 'open'})"
            for o in others
        )
        run.conflicts.append(
            self.outbox.add_conflict(
                event,
                ConflictKind.OVERLAP,
                f"Session {event.session_identifier} was started on this PC at {event.at_text} "
                f"({event.instrument_pid}, user {event.user}) while the database was away, and "
                f"meanwhile these sessions were logged on the same instrument: {listed}. "
                "Outcome: every session is kept as recorded, so NexusLIMS would build records "
                "over the same time. Check with the users which is right and correct the other "
                "session's times or status in the admin tab.",
            )
        )

    def _replay_end(self, eng: Engine, event: OutboxEvent, run: _Run, live: _Live | None) -> None:
        if event.note:
            ensure_tables(eng, [note_table])
        try:
            with write_transaction(eng) as conn:
                ended = lifecycle.end_in_transaction(
                    conn, session_identifier=event.session_identifier, at=event.at
                )
                if event.note and not ended.already_ended:
                    # The note as it was when End was clicked (typed offline, perhaps).
                    lifecycle.write_note_in_transaction(
                        conn, event.session_identifier, event.note, event.timezone
                    )
        except NotFound:
            # No START in the database: write the whole session from what this PC kept.
            self._write_whole_session(eng, event, run, live)
            return
        pid = event.instrument_pid
        self._forget_open(pid, event.session_identifier)
        if ended.already_ended and not _instant_equal(ended.ended, event.at):
            self.outbox.set_state(
                event.id,
                EventState.SKIPPED,
                error=f"the session had already ended at {ended.ended.isoformat()}",
            )
            if live is not None:  # the user is right here and is told (see end())
                live.applied, live.result = True, ended
                return
            run.conflicts.append(
                self.outbox.add_conflict(
                    event,
                    ConflictKind.END_ALREADY_RECORDED,
                    f"Session {event.session_identifier} on {pid} (user {event.user}) was ended "
                    f"on this PC at {event.at_text} while the database was away, but it had "
                    f"already been ended at {ended.ended.isoformat()} (force-ended by staff or "
                    "ended elsewhere). Outcome: the database keeps that END; this END was not "
                    "written. If the real end time matters, correct the session's END.",
                )
            )
            return
        self.outbox.set_state(event.id, EventState.SENT)
        run.sent += 1
        if live is not None:
            live.applied, live.result = True, ended

    def _forget_open(self, pid: str, ident: str) -> None:
        known = self.outbox.known_open(self.database_key, pid)
        if known is not None and known.session_identifier == ident:
            self._remember_open(pid, None)

    def _write_whole_session(
        self, eng: Engine, event: OutboxEvent, run: _Run, live: _Live | None
    ) -> None:
        """START and END together, both TO_BE_BUILT, in one transaction (C1 and C2 outcomes)."""
        held = [
            e
            for e in self.outbox.items(
                session_identifier=event.session_identifier, states=(EventState.HELD,)
            )
            if e.kind is EventKind.START
        ]
        source = held[0] if held else None
        start_text = source.at_text if source else event.start_text
        user = source.user if source else event.user
        note = source.note if source else event.note
        if not start_text:
            self.outbox.set_state(event.id, EventState.HELD, error="START missing")
            run.conflicts.append(
                self.outbox.add_conflict(
                    event,
                    ConflictKind.END_WITHOUT_START,
                    f"The END of session {event.session_identifier} on {event.instrument_pid} "
                    f"({event.at_text}) has no START in the database, and this PC does not know "
                    "when the session started. Outcome: the END is kept on this PC; add the "
                    "START by hand and run 'nexus-logger sync --retry "
                    f"{event.id}', or mark the conflict handled to give it up.",
                )
            )
            return
        if note:
            ensure_tables(eng, [note_table])
        with write_transaction(eng) as conn:
            lifecycle.lock_instrument(conn, event.instrument_pid)
            present = conn.execute(
                select(_T.c.id_session_log).where(
                    _T.c.session_identifier == event.session_identifier,
                    _T.c.event_type == EventType.START.value,
                )
            ).first()
            if present is None:
                tz = event.timezone
                started = timestamps.parse(start_text, tz)
                stamp = timestamps.to_db(started, tz)
                conn.execute(
                    insert(_T).values(
                        session_identifier=event.session_identifier,
                        instrument=event.instrument_pid,
                        timestamp=stamp,
                        event_type=EventType.START.value,
                        record_status=RecordStatus.WAITING_FOR_END.value,
                        user=user,
                    )
                )
                if note:
                    conn.execute(
                        insert(note_table).values(
                            session_identifier=event.session_identifier, note=note, updated=stamp
                        )
                    )
            ended = lifecycle.end_in_transaction(
                conn, session_identifier=event.session_identifier, at=event.at
            )
        self.outbox.set_state(event.id, EventState.SENT)
        run.sent += 1
        if live is not None:
            live.applied, live.result = True, ended
        self._forget_open(event.instrument_pid, event.session_identifier)
        if source is not None:
            self.outbox.set_state(source.id, EventState.SENT)
            run.sent += 1
            record = self.outbox.open_conflict_for(source.id, ConflictKind.START_WHILE_OPEN)
            if record is not None:
                self.outbox.append_to_conflict(
                    record.id,
                    f"Its END ({event.at_text}) arrived; START and END were written together as "
                    "a finished session.",
                )
            return
        if present is not None:
            return  # the START appeared meanwhile: a plain END, no conflict
        run.conflicts.append(
            self.outbox.add_conflict(
                event,
                ConflictKind.END_WITHOUT_START,
                f"The END of session {event.session_identifier} on {event.instrument_pid} (user "
                f"{user}, {event.at_text}) found no START in the database (deleted, or the "
                "database was restored from an older copy). Outcome: the START was re-created "
                f"from what this PC kept (started {start_text}) and written with the END, both "
                "TO_BE_BUILT, so the session will be built. If it should not exist, delete it.",
            )
        )


def os_login() -> str:
    """The OS login of whoever runs the program, for "handled by" (never fails)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no login name available (service account, odd environment)
        return "unknown"
