"""This PC's outbox as :class:`~nexus_logger.core.offline.durable.DurableLogger` uses it: what
waits for the database, sending it in order (one sender per PC), and telling the user once when
nothing can be kept here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Engine

from nexus_logger.core.db.database_key import database_key
from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.errors import DatabaseUnavailable
from nexus_logger.core.offline import sender
from nexus_logger.core.offline.database_link import DatabaseLink
from nexus_logger.core.offline.durable_outcomes import SyncReport
from nexus_logger.core.offline.outbox import (
    ConflictRecord,
    EventState,
    Outbox,
    OutboxError,
    OutboxEvent,
)
from nexus_logger.core.sessions.time_rules import TimeRules
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.identity import recorded_login

_logger = logging.getLogger(__name__)


class OutboxKeeper:
    """The outbox of one database on this PC, and the sending of what waits in it."""

    def __init__(
        self,
        link: DatabaseLink,
        database: EngineLike,
        *,
        rules: TimeRules,
        outbox_path: Path | None = None,
        outbox_folder: str = "",
    ) -> None:
        self._link = link
        self._rules = rules
        #: Why this login keeps events in its own folder, not the PC's (told once); or None.
        self.place_problem: str | None = None
        if outbox_path is None:  # this PC's outbox (or the fallback): see outbox_place
            from nexus_logger.core.offline.outbox_place import open_outbox

            self.outbox, place = open_outbox(outbox_folder)
            self.place_problem = place.problem
        else:
            self.outbox = Outbox(outbox_path)
        self.database_key = database_key(database)
        #: One sender per PC: held while events are sent (another process waits or skips).
        self.file_lock = FileLock(
            str(self.outbox.path) + ".lock",
            mode=paths.SHARED_LOCK_MODE,
            thread_local=False,
            is_singleton=False,
        )
        self._pruned = False
        #: ENDs kept by a window of this process that it sends itself next (see
        #: :func:`sender.send_waiting`): a status check does not send them first.
        self.awaited: set[int] = set()
        #: Why nothing can be kept on this PC (the outbox cannot be written); None when it can.
        self.problem: str | None = None
        self._problem_told = False
        self._moved_told = False
        self._place_told = False
        #: Every note :meth:`with_warning` added to a message in this process, in order (for
        #: a caller that prints its own words instead of the message: the CLI on success).
        self.notes_told: list[str] = []

    # -- what waits -----------------------------------------------------------------------

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
        return self.outbox.resolve(conflict_id, by=by or recorded_login(), note=note)

    # -- sending --------------------------------------------------------------------------

    def sync(self, lock_wait: float) -> SyncReport:
        """Send every waiting event, waiting up to ``lock_wait`` for another sender."""
        self._link.ask_again()  # asked to send now: try the database, whatever failed
        try:
            self.file_lock.acquire(timeout=lock_wait)
        except FileLockTimeout:
            _logger.info("Outbox not sent: another process is sending it")
            return SyncReport(pending=self.pending_count(), busy=True)
        except OSError as err:
            raise OutboxError(self._lock_refused(err)) from None
        try:
            run = self.send_locked()
        finally:
            self.file_lock.release()
        return self.report(run)

    def engine_after_waiting(self) -> Engine:
        """The engine, once the events waiting here are sent (they go first, in order).

        Raises :class:`DatabaseUnavailable` when the database cannot be reached for them. A
        database that answers but refuses writes is no reason to act offline: the engine is
        returned, and a write of the caller's own is refused as read-only.
        """
        eng = self._link.engine()
        run = self.send_if_free(eng)
        if run.error is not None and not run.refused_writes:
            raise DatabaseUnavailable(run.error)
        return eng

    def send_if_free(self, eng: Engine, live_id: int | None = None) -> sender.Run:
        """Send what waits, unless nothing does or another process is sending it right now."""
        if not self.call(self.outbox.pending_count, self.database_key):
            return sender.Run()
        try:
            self.file_lock.acquire(timeout=0)
        except FileLockTimeout:
            return sender.Run()
        except OSError as err:
            # This login cannot take the lock (a folder with the sticky bit: another login's
            # lock file): the caller's own START or END goes straight to the database.
            self.failed(OutboxError(self._lock_refused(err)))
            return sender.Run()
        try:
            run = self.send_locked(eng, live_id)
        finally:
            self.file_lock.release()
        self.report(run)
        return run

    def _lock_refused(self, err: OSError) -> str:
        folder = self.outbox.path.parent
        return (
            f"This login cannot take the outbox's lock {self.file_lock.lock_file} ({err}), so "
            f"it does not send what other logins keep on this PC. Every login must be able to "
            f"change every file in {folder}: ask IT to give the folder a group (2775) or an ACL "
            "instead of the sticky bit (docs/deployment.md)."
        )

    def send_locked(self, eng: Engine | None = None, live_id: int | None = None) -> sender.Run:
        """Send what waits; the caller holds :attr:`file_lock`."""
        try:
            eng = eng or self._link.engine()
        except DatabaseUnavailable as err:
            return sender.Run(error=str(err))
        try:
            run = sender.send_waiting(
                self.outbox, eng, self.database_key, self._rules, live_id, frozenset(self.awaited)
            )
        except OutboxError as err:
            # What waits cannot be read: the caller's own event goes straight to the database
            # (offline protection is off, and said so) rather than nothing being logged at all.
            self.failed(err)
            return sender.Run()
        if not self._pruned:
            self._pruned = True
            self.call(self.outbox.prune)
        if run.error is not None and not run.refused_writes:
            self._link.went_offline(run.error)
        elif run.attempted:
            self._link.came_online()
        return run

    def report(self, run: sender.Run) -> SyncReport:
        held = len(self.outbox.items(database=self.database_key, states=(EventState.HELD,)))
        report = SyncReport(
            sent=run.sent,
            pending=self.pending_count(),
            conflicts=tuple(run.conflicts),
            error=run.error,
            held=held,
            dropped=run.dropped,
            refused_writes=run.refused_writes,
            unusable=run.unusable,
        )
        if run.sent or run.conflicts or run.dropped or run.error:
            _logger.info("Outbox: %s", report.message)
        return report

    # -- when the outbox cannot be written -----------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an outbox method for a convenience (a cache, a count); a failure only warns."""
        try:
            return fn(*args, **kwargs)
        except OutboxError as err:
            self.failed(err)
            return None

    def failed(self, err: OutboxError) -> None:
        """An outbox write failed: offline protection is off (said once per reason)."""
        if self.problem != str(err):
            _logger.error("Offline protection is off: %s", err)
            self._problem_told = False  # a new reason: say it once more
        self.problem = str(err)

    def works(self) -> None:
        """An outbox write succeeded: offline protection is on again (after space was freed)."""
        if self.problem is not None:
            _logger.info("The local outbox can be written again; offline protection is on.")
        self.problem = None

    def with_warning(self, message: str) -> str:
        """``message``, plus (once each) what the user must know about this PC's outbox."""
        notes = []
        moved = self.outbox.moved_aside
        if moved is not None and not self._moved_told:
            self._moved_told = True
            notes.append(
                f"The local outbox was damaged; it was kept as {moved} and a new one started "
                "(tell facility staff: events that waited in it were not sent)."
            )
        if self.place_problem is not None and not self._place_told:
            self._place_told = True
            notes.append(f"Warning: {self.place_problem}")
        if self.problem is not None and not self._problem_told:
            self._problem_told = True
            notes.append(
                f"Warning: nothing can be kept on this PC if the database goes away: {self.problem}"
            )
        self.notes_told.extend(notes)
        return " ".join([message, *notes])
