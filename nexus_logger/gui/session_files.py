"""The running session's files, as NexusLIMS would take them, counted every few seconds.

:class:`SessionFilesWatch` asks :func:`nexus_logger.core.files.filestore.report_for_settings` on the
:class:`~nexus_logger.gui.file_scans.FileScanner` thread (never the database worker), from
the session's START to now; the next count starts a few seconds after the last one answered,
and later when counting takes long (a large folder on a slow share costs at most a fifth of
the time). :meth:`SessionFilesWatch.report_at` gives the End step its answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from nexus_logger.core.files.filestore import FileReport, Outcome, report_for_settings, size_text
from nexus_logger.core.files.filestore_scan import ScanLimits
from nexus_logger.gui.file_scans import FileScanner

if TYPE_CHECKING:
    from nexus_logger.core.sessions.lifecycle import OpenSession
    from nexus_logger.core.settings.config import Settings

_logger = logging.getLogger(__name__)

#: The pause between the end of one count and the start of the next (ms), at the least.
REFRESH_MS = 5_000
#: A count that runs this long stops and says "at least" (the window asks again soon).
LIVE_LIMITS = ScanLimits(max_seconds=5.0)
#: The longest file name the window shows whole; longer ones are shortened in the middle.
_NAME_CHARS = 40


def short_name(path: str) -> str:
    """The file's name (not its folders), shortened in the middle when very long."""
    name = path.rsplit("/", 1)[-1]
    if len(name) <= _NAME_CHARS:
        return name
    keep = (_NAME_CHARS - 1) // 2
    return f"{name[:keep]}\u2026{name[-keep:]}"


def files_line(report: FileReport, zone: str | None) -> str:
    """What the session page says: ``NexusLIMS would take 12 files so far (3.4 MB); ...``."""
    tally = report.tally
    if tally is None and not report.data_root.strip():
        # Counting is off on this PC (no data_root): nothing the person at the instrument can
        # act on, so no line for them (staff see the setting in 'nexus-logger config show').
        return ""
    if tally is None:
        return report.problem
    if tally.unreadable:
        return (
            f"Files are not counted: {tally.unreadable:,} folder(s) under {report.folder} "
            "cannot be read, and NexusLIMS's search would fail there too. Tell the facility staff."
        )
    if tally.count == 0:
        if not tally.complete:
            return (
                f"NexusLIMS would take no files among the first {tally.entries:,} entries of "
                f"{report.folder}; the folder is too large to count them all here."
            )
        text = "NexusLIMS would take no files so far"
        if not tally.folder_exists:
            text += f" (the folder {report.folder} does not exist yet)"
        return text + "."
    many = f"{tally.count:,}" if tally.complete else f"at least {tally.count:,}"
    text = f"NexusLIMS would take {many} file{'' if tally.count == 1 else 's'} so far"
    text += f" ({size_text(tally.total_bytes)})"
    if tally.newest_path and tally.newest_mtime:
        local = tally.newest_mtime.astimezone(_zone(zone))
        text += f"; newest: {short_name(tally.newest_path)} at {local:%H:%M:%S}"
    return text + "."


def _zone(name: str | None) -> Any:
    from nexus_logger.core import timestamps

    return timestamps.zone(name) if name else None


class SessionFilesWatch(QObject):
    """Counts the running session's files in the background; ``updated`` carries each report."""

    updated = Signal(object)  # FileReport

    def __init__(self, scanner: FileScanner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scanner = scanner
        self.latest: FileReport | None = None
        self._settings: Settings | None = None
        self._session: OpenSession | None = None
        self._busy = False
        self._waiting: list[tuple[datetime, Callable[[FileReport | None], None]]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.count_now)

    @property
    def counting(self) -> bool:
        """True while a session is watched and a data root is set."""
        return self._session is not None and bool(str(self._settings.data_root or "").strip())

    def start(self, settings: Settings, session: OpenSession) -> None:
        """Watch ``session`` (a data root not set is said once, and nothing is counted)."""
        self._settings, self._session, self.latest = settings, session, None
        if not self.counting:
            self.latest = report_for_settings(settings, "", session.started, session.started)
            self.updated.emit(self.latest)
            return
        self.count_now()

    def stop(self) -> None:
        """Stop watching (the session ended, the window closes): an answer still on its way,
        and an End waiting for it, are dropped (closing must never end a session)."""
        self._session = None
        self._busy = False  # an answer still on its way is for no session any more
        self._timer.stop()
        self._waiting = []

    def count_now(self) -> None:
        """Count up to now (unless a count is running: its answer schedules the next)."""
        if self._session is not None and not self._busy:
            self._submit(None)

    def report_at(self, end: datetime, callback: Callable[[FileReport | None], None]) -> None:
        """The files up to ``end`` (the End click) for ``callback``: the last count when it
        already found some (a file found stays in the window), else a fresh count."""
        latest = self.latest
        if latest is not None and latest.tally is not None and latest.tally.count > 0:
            callback(latest)
            return
        self._waiting.append((end, callback))
        if not self._busy:
            self._submit(end)

    def _submit(self, end: datetime | None) -> None:
        assert self._settings is not None and self._session is not None
        session = self._session
        self._busy = True
        self._timer.stop()
        count = functools.partial(
            report_for_settings,
            self._settings,
            session.instrument.filestore_path,
            session.started,
            end,
            limits=LIVE_LIMITS,
            cancel=self.scanner.stopping,
        )
        self.scanner.submit(count, on_done=lambda result: self._answered(session, result))

    def _answered(self, session: OpenSession, result: Any) -> None:
        if session is not self._session:
            return  # the session ended (or another began) meanwhile: stop() reset _busy
        self._busy = False
        if isinstance(result, BaseException):
            _logger.warning("Counting the session's files failed: %s", result)
            assert self._settings is not None
            # Said where the person looks: an old count must not stand as if it were current.
            result = FileReport(
                start=session.started,
                end=session.started,
                data_root=str(self._settings.data_root or ""),
                problem=f"Files are not counted: {result}",
            )
        if result is not None:
            self.latest = result
            self.updated.emit(result)
        waiting, self._waiting = self._waiting, []
        for end, callback in waiting:
            if (
                result is None
                or result.end >= end
                or result.outcome() is not Outcome.NO_FILES_FOUND
            ):
                callback(result)
            else:  # a count that began before the click and found nothing: count to the click
                self._waiting.append((end, callback))
        if self._waiting:
            self._submit(self._waiting[0][0])
            return
        seconds = result.tally.seconds if result is not None and result.tally else 0.0
        self._timer.start(max(REFRESH_MS, int(seconds * 4000)))
