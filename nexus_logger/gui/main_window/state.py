"""The state every part of the main window shares, declared once: :class:`MainWindow` sets
it in ``window.py`` and each flow's mixin reads and writes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import EllipsisType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QDialog, QLabel, QStackedWidget, QTabWidget, QWidget

    from nexus_logger.core.db.models import Instrument
    from nexus_logger.core.offline.durable import EndOutcome
    from nexus_logger.core.sessions.lifecycle import OpenSession
    from nexus_logger.core.settings.config import Settings
    from nexus_logger.gui import jobs
    from nexus_logger.gui.file_scans import FileScanner
    from nexus_logger.gui.main_window.phase import Phase
    from nexus_logger.gui.pages import EndedPage, SessionPage, StepsPage, SyncIndicator
    from nexus_logger.gui.session_files import SessionFilesWatch
    from nexus_logger.gui.worker import DbWorker


class WindowState:
    """The base of every flow's mixin: what the window holds (annotations only)."""

    worker: DbWorker
    settings: Settings | None
    phase: Phase
    connected: jobs.Connected | None
    instrument: Instrument | None
    session: OpenSession | None
    #: The running session's START is only kept on this PC so far.
    session_queued: bool
    end_outcome: EndOutcome | None
    #: "Keep it open and close": the session stays open on purpose.
    paused: bool
    #: What the ended page says once the END it said was kept on this PC has been sent
    #: (``None``: nothing of this window's waits there).
    _end_sent_message: str | None
    steps_page: StepsPage
    session_page: SessionPage
    ended_page: EndedPage
    pages: QStackedWidget
    tabs: QTabWidget
    sync_indicator: SyncIndicator
    file_scanner: FileScanner
    files_watch: SessionFilesWatch
    _settings_loader: Callable[[], Settings]
    _generation: int
    #: Background jobs queued or running, by kind, with their job ids.
    _inflight: dict[str, int]
    #: A status check was asked for while one ran: it runs once more after it.
    _sync_again: bool
    #: The database answered a heartbeat or note of this window with "read-only" (and no
    #: write has been taken since): the status line says it refuses changes.
    _writes_refused: bool
    #: The window was closed while starting: it closes once the steps have answered.
    _close_after_start: bool
    #: The question about a session found open, while it waits for the user.
    _question: QDialog | None
    #: ``time.monotonic()`` of the last heartbeat asked for (0: none yet).
    _last_heartbeat: float
    _note_pending: str | None
    #: The note as this window last read it from the database or wrote it there (``...``:
    #: not known, the session came from this PC's knowledge while the database was away).
    _note_in_db: str | None | EllipsisType
    #: Closing without asking (after End, at logoff).
    _closing: bool
    _countdown_left: int
    #: The END asked for is in this PC's outbox (so not lost if the database never answers).
    _end_kept: bool
    #: When the start-up steps began (the launch, or Retry): the START's time.
    _start_asked_at: datetime | None
    #: The End click whose files are being counted.
    _end_check: datetime | None
    #: The End click the clock stopped at while the files are counted or the person is asked
    #: about a record without files (None: the clock runs).
    _clock_held_at: datetime | None
    _log_window: QWidget | None
    _admin_placeholder: QLabel
    _admin_tab: QWidget | None
    _clock: QTimer
    _countdown: QTimer
    _heartbeat_timer: QTimer
    _sync_timer: QTimer
