"""The window's composition root: :class:`MainWindow` builds the Session tab (steps,
running session, ended page) and the Admin tab's place, and mixes in each flow from its own
module: start-up (``start_flow.py``) with a session found open (``open_session.py``), the
running session (``running.py``), ending (``end_flow.py``), closing and quitting
(``closing.py``) and the Admin tab (``admin_access.py``).

All database work goes to the one :class:`~nexus_logger.gui.worker.DbWorker`, so a locked
file or a slow server never freezes the window. The questions the window may ask are the
methods ``ask_resume_choice``, ``ask_close_choice`` and ``ask_end_without_files``; tests
replace them, so no test waits on a modal dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from types import EllipsisType
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core.settings.config import NOT_SET_UP, NotSetUp
from nexus_logger.gui import jobs, theme
from nexus_logger.gui.file_scans import FileScanner
from nexus_logger.gui.icons import app_icon
from nexus_logger.gui.main_window.admin_access import AdminTabAccess
from nexus_logger.gui.main_window.closing import Closing
from nexus_logger.gui.main_window.end_flow import EndFlow
from nexus_logger.gui.main_window.open_session import OpenSessionChoice
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.running import RunningSession
from nexus_logger.gui.main_window.start_flow import StartFlow
from nexus_logger.gui.pages import EndedPage, SessionPage, Step, StepsPage, SyncIndicator
from nexus_logger.gui.screen_room import fitted_size
from nexus_logger.gui.session_files import SessionFilesWatch
from nexus_logger.gui.worker import DbWorker

if TYPE_CHECKING:
    from nexus_logger.core.db.models import Instrument
    from nexus_logger.core.offline.durable import EndOutcome
    from nexus_logger.core.sessions.lifecycle import OpenSession
    from nexus_logger.core.settings.config import Settings

_logger = logging.getLogger(__name__)

#: The window's title; the demo and an unconfigured PC add to it.
TITLE = "NexusLIMS session logger"
#: The banner over every page while the demo database is in use.
DEMO_BANNER = "DEMO: this window uses a local demo database. Sessions are not sent to NexusLIMS."

#: How often the status line re-checks the database and sends waiting events (ms).
SYNC_INTERVAL_MS = 30_000


class MainWindow(
    StartFlow, OpenSessionChoice, RunningSession, EndFlow, Closing, AdminTabAccess, QMainWindow
):
    """Session tab (steps, running session, end) and the Admin tab."""

    #: The session is running (True: only kept on this PC); for bench/bench_startup.py.
    session_started = Signal(bool)

    def __init__(
        self,
        worker: DbWorker,
        settings_loader: Callable[[], Settings],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self._settings_loader = settings_loader
        self.settings: Settings | None = None
        self.phase = Phase.STARTING
        self.connected: jobs.Connected | None = None
        self.instrument: Instrument | None = None
        self.session: OpenSession | None = None
        self.session_queued = False
        self.end_outcome: EndOutcome | None = None
        self.paused = False  # "Keep it open and close": the session stays open on purpose
        self._end_sent_message: str | None = None
        self._closing = False  # closing without asking (after End, at logoff)
        self._generation = 0
        self._inflight: dict[str, int] = {}
        self._sync_again = False
        self._writes_refused = False
        self._close_after_start = False
        self._question: QDialog | None = None
        self._last_heartbeat = 0.0
        self._note_pending: str | None = None
        self._note_in_db: str | None | EllipsisType = None
        self._log_window: QWidget | None = None
        self._admin_tab: QWidget | None = None
        self._countdown_left = 0
        self._end_kept = False
        self._end_check: datetime | None = None  # the End click whose files are counted
        self._clock_held_at: datetime | None = None
        self._start_asked_at: datetime | None = None

        self.setWindowTitle(TITLE)
        self.setWindowIcon(app_icon())
        self.resize(*fitted_size(self, 760, 640))
        # Small enough for 1366 x 768 at 150 % (the pages scroll; End stays in sight).
        self.setMinimumSize(600, 360)
        self._build()

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._update_elapsed)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._count_down)
        self._heartbeat_timer = QTimer(self)
        self._heartbeat_timer.timeout.connect(self.send_heartbeat)
        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(SYNC_INTERVAL_MS)
        self._sync_timer.timeout.connect(self.refresh_sync_state)
        self.file_scanner = FileScanner(self)
        self.files_watch = SessionFilesWatch(self.file_scanner, self)
        self.files_watch.updated.connect(self._show_files)

    # -- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        self.steps_page = StepsPage()
        self.session_page = SessionPage()
        self.ended_page = EndedPage()
        self.pages = QStackedWidget()
        for page in (self.steps_page, self.session_page, self.ended_page):
            self.pages.addWidget(page)
        self.sync_indicator = SyncIndicator()
        self.log_button = QPushButton("Show debug &log")
        theme.set_font(self.log_button, theme.BASE_PT)
        self.log_button.setToolTip("The program's log, to copy or save for support (Ctrl+L)")
        theme.press_on_enter(self.log_button)
        footer = QHBoxLayout()
        footer.addWidget(self.sync_indicator, 1)
        footer.addWidget(self.log_button)

        session_tab = QWidget()
        layout = QVBoxLayout(session_tab)
        layout.setContentsMargins(24, 20, 24, 14)
        layout.addWidget(self.pages, 1)
        layout.addLayout(footer)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        theme.set_font(self.tabs.tabBar(), theme.BASE_PT)
        self.tabs.addTab(session_tab, "Session")
        self._admin_placeholder = QLabel("Loading the admin view\u2026")
        self._admin_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._admin_placeholder.setWordWrap(True)
        self.tabs.addTab(self._admin_placeholder, "Admin")
        # Hidden until the settings say who may see it (it lists everyone's sessions).
        self.tabs.setTabVisible(self.tabs.indexOf(self._admin_placeholder), False)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        # Above the tabs, so it is on every page: the demo must never pass for production.
        self.demo_banner = QLabel(DEMO_BANNER)
        self.demo_banner.setWordWrap(True)
        self.demo_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_font(self.demo_banner, theme.BASE_PT, bold=True)
        self.demo_banner.setStyleSheet(
            f"background: {theme.AMBER}; color: white; padding: 6px 12px;"
        )
        self.demo_banner.hide()
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.demo_banner)
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._connect()

    def _connect(self) -> None:
        self.steps_page.retry_requested.connect(self.start)
        self.steps_page.log_requested.connect(self.show_log)
        self.session_page.end_requested.connect(self.end_session)
        self.session_page.note_edited.connect(self.save_note)
        self.ended_page.keep_open_requested.connect(self.keep_window_open)
        self.ended_page.new_session_requested.connect(self.start)
        self.ended_page.close_requested.connect(self.close)
        self.log_button.clicked.connect(self.show_log)

        self.end_shortcut = QShortcut(QKeySequence("Ctrl+E"), self)
        self.end_shortcut.activated.connect(self.end_session)
        # A line edit takes Ctrl+E for itself (end of line, on X11): in the note field, where
        # the user is after typing a note, it must still end the session.
        self.session_page.note_edit.installEventFilter(self)
        QShortcut(QKeySequence("Ctrl+L"), self).activated.connect(self.show_log)
        QShortcut(QKeySequence("F5"), self).activated.connect(self._retry_if_failed)

    # -- misc -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+E in the note field ends the session (saving the note with the END)."""
        if (
            watched is self.session_page.note_edit
            and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_E
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
        ):
            # Claimed at ShortcutOverride, so the key press comes here (and only here).
            if event.type() == QEvent.Type.KeyPress:
                self.end_session()
            event.accept()
            return True
        return super().eventFilter(watched, event)

    def _show_demo(self, demo: bool) -> None:
        """Say in the title and a banner over every page that this is the demo."""
        self.demo_banner.setVisible(demo)
        # The app's name last: Qt adds the display name to a title that does not end with it.
        self.setWindowTitle(f"DEMO, not sent to NexusLIMS \u2013 {TITLE}" if demo else TITLE)
        self.sync_indicator.database_words = "demo database" if demo else "database"

    def _show_not_set_up(self) -> None:
        """No database and no demo: say so, and what to do, instead of logging anywhere."""
        self.setWindowTitle(f"This PC is not set up \u2013 {TITLE}")
        self._fail(Step.CONNECT, NOT_SET_UP, NotSetUp(NOT_SET_UP))
        self.steps_page.title.setText("This PC is not set up")
        contact = str(getattr(self.settings, "facility_contact", "") or "")
        who = contact.strip() or "the facility staff or IT"
        self.steps_page.contact_label.setText(
            f"Ask {who} to set the database once for this PC (they can also start a demo, "
            "to try the program without it)."
        )
        self.sync_indicator.database_words = None
        self.sync_indicator.set_state(None, 0)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            _logger.debug("Window phase: %s -> %s", self.phase.value, phase.value)
        self.phase = phase
        if self._close_after_start and phase is not Phase.STARTING and not self._closing:
            self._close_after_start = False
            QTimer.singleShot(0, self.close)  # asked for while starting (closing.py)
        self.end_shortcut.setEnabled(phase is Phase.RUNNING)
        # The failure box has its own "Show log" where the person is looking: one button
        # (and one Alt+L) for it, not two.
        self.log_button.setVisible(phase is not Phase.FAILED)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.check_when_looked_at()
        super().changeEvent(event)

    def bring_to_front(self) -> None:
        """Show the window on top (a second launch asked for it)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def show_log(self) -> None:
        """Open (or raise) the debug-log window."""
        from nexus_logger.gui.log_window import LogWindow

        if self._log_window is None:
            self._log_window = LogWindow(self)
        self._log_window.show()
        self._log_window.raise_()
        self._log_window.activateWindow()
