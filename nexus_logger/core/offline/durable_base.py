"""What every step of :class:`~nexus_logger.core.offline.durable.DurableLogger` relies on: the shared
database (and remembering that it is away), this PC's outbox (and warning when it cannot be
written), and sending what waits in it."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Engine

from nexus_logger.core.db.database_key import database_key
from nexus_logger.core.db.engine import EngineLike, default_database, get_engine, is_url
from nexus_logger.core.errors import ConfigError, DatabaseUnavailable
from nexus_logger.core.offline import sender
from nexus_logger.core.offline.durable_outcomes import SyncReport
from nexus_logger.core.offline.outbox import (
    ConflictRecord,
    EventState,
    Outbox,
    OutboxError,
    OutboxEvent,
)
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules
from nexus_logger.core.settings.identity import recorded_login

_logger = logging.getLogger(__name__)

#: How often the window should call :meth:`DurableLogger.sync` while events wait (seconds).
RETRY_SECONDS = 30
#: How long ``sync`` waits for another process that is sending the same outbox.
LOCK_WAIT_SECONDS = 5.0
#: After the database could not be reached, calls within this many seconds fail at once, so
#: that one action (identify, find, end) waits one timeout, not one per step.
_DOWN_SECONDS = 2.0


class DurableBase:
    """The database, the outbox and sending, shared by the steps of a ``DurableLogger``."""

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
            from nexus_logger.core.offline.outbox_place import open_outbox

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
        who = by or recorded_login()
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
        from nexus_logger.core.db.engine import read_connection

        with self._lock:
            self._down_until = 0.0
            try:
                with read_connection(self.engine()) as conn:
                    conn.exec_driver_sql("SELECT 1")
            except DatabaseUnavailable as err:
                self._went_offline(err)
                raise
            self._came_online()

    def _engine_after_waiting(self) -> Engine:
        """The engine, once the events waiting here are sent (they go first, in order).

        Raises :class:`DatabaseUnavailable` when the database cannot be reached for them.
        """
        eng = self.engine()
        run = self._send_if_free(eng)
        if run.error is not None:
            raise DatabaseUnavailable(run.error)
        return eng

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
