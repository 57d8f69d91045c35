"""The Admin tab: what NexusLIMS will build next, what it built, and what is stuck.

:class:`AdminTab` puts the filter bar (``filter_bar.py``) and the message lines
(``messages.py``) around five pages: Sessions with its detail panel (``sessions_page.py``,
``detail_panel.py``), Problems, Timeline, Audit and Fleet (one module each; ``tab_pages.py``
loads them when shown). Every query runs on the shared
:class:`~nexus_logger.gui.worker.DbWorker` (``context.py``); an auto-refresh
(``admin_refresh_seconds``) reloads what is shown and keeps the selection. Everything that
asks the person something is one method of the tab (``ask_csv_path``, ``ask_end_time``,
``ask_user_name``, ``confirm_plan``) so tests replace it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.settings.config import Settings
from nexus_logger.core.staff import admin_actions, summaries
from nexus_logger.gui.admin.actions import TabActions
from nexus_logger.gui.admin.audit_page import AuditPage
from nexus_logger.gui.admin.context import TabContext, TabJobs
from nexus_logger.gui.admin.filter_bar import FilterBar
from nexus_logger.gui.admin.fleet import FleetPage
from nexus_logger.gui.admin.messages import MessageLines
from nexus_logger.gui.admin.problems_page import ProblemsPage
from nexus_logger.gui.admin.sessions_page import SessionsPage
from nexus_logger.gui.admin.tab_pages import TabPages
from nexus_logger.gui.admin.timeline_page import TimelinePage
from nexus_logger.gui.worker import DbWorker, JobError

_logger = logging.getLogger(__name__)

#: Widgets of the tab's parts that are also attributes of the tab itself (tests, the
#: screenshots in docs/ and bench/ reach them there).
_EXPOSED: dict[str, tuple[str, ...]] = {
    "filter_bar": (
        *("status_combo", "instrument_combo", "dates_check", "date_from", "date_to"),
        *("search_edit", "count_buttons", "refresh_button", "export_button"),
    ),
    "messages": ("blocking_label", "error_label", "readonly_label", "bridge_label", "trail_label"),
    "sessions_page": ("model", "sessions_view", "status_label"),
    "detail": (
        *("detail_title", "files_panel", "events_model", "action_label"),
        *("force_end_button", "requeue_button", "fix_user_button"),
    ),
    "problems_page": ("problems_model", "problems_view", "problem_text", "show_problem_button"),
    "timeline_page": ("timeline", "zoom_buttons", "earlier_button", "now_button", "later_button"),
    "audit_page": ("audit_model",),
}


class AdminTab(TabActions, TabPages):
    """Sessions pending build, their record-generation events, problems and admin actions."""

    def __init__(
        self, worker: DbWorker, database: str, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.database = database
        self.settings = settings
        self.login = admin_actions.current_login()
        self.is_admin = admin_actions.is_administrator(self.login, settings.administrators)
        #: True when this viewer may not see who used an instrument: every result the tab
        #: loads then passes through core/staff/privacy.py (``admin_tab_shows_people``). The
        #: demo's sessions are made up (and the viewer's own): nobody's to hide.
        self.hide_people = admin_actions.hides_people(settings, self.is_admin)
        self.zones: dict[str, str] = {}
        self._started = False
        self._refreshing = False
        self.filter_bar = FilterBar(self, hide_people=self.hide_people)
        self.messages = MessageLines(self, is_admin=self.is_admin, login=self.login)
        self.jobs = TabJobs(
            self,
            worker,
            hide_people=self.hide_people,
            on_busy=self.filter_bar.busy_label.setVisible,
            on_error=self.messages.show_error,
        )
        self._build()
        self._expose_widgets()
        self._connect()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.timeout.connect(self.refresh)
        seconds = int(getattr(settings, "admin_refresh_seconds", 30) or 0)
        self._refresh_timer.setInterval(max(1, seconds) * 1000)
        self._auto_refresh = seconds > 0
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(1000)
        self._tick_timer.timeout.connect(self.sessions_page.model.tick)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(self.filter_bar)
        self.pages = QTabWidget(self)
        # Messages come under the pages: one appearing never moves the page tabs or the list
        # under the mouse (the read-only note is there from the start, so it stays on top).
        outer.addWidget(self.messages.readonly_label)
        outer.addWidget(self.pages, 1)
        for label in self.messages.below_pages():
            outer.addWidget(label)
        context = TabContext(
            self.jobs, self.database, self.settings, self.is_admin, self.hide_people
        )
        self.sessions_page = SessionsPage(self, context, self.filter_bar, self.messages)
        self.detail = self.sessions_page.detail
        self.problems_page = ProblemsPage(self, context)
        self.timeline_page = TimelinePage(self, context)
        self.audit_page = AuditPage(self, context)
        self.fleet_page = FleetPage(self)
        self.pages.addTab(self.sessions_page, "Sessions")
        self.pages.addTab(self.problems_page, "Problems")
        self.pages.addTab(self.timeline_page, "Timeline")
        self.pages.addTab(self.audit_page, "Audit")
        self.pages.addTab(self.fleet_page, "Fleet")

    def _expose_widgets(self) -> None:
        """The parts' widgets under the tab's own names, as tests, screenshots and bench/ use."""
        for part, names in _EXPOSED.items():
            owner = getattr(self, part)
            for name in names:
                setattr(self, name, getattr(owner, name))

    def _connect(self) -> None:
        self.filter_bar.changed.connect(self.apply_filters)
        self.filter_bar.refresh_button.clicked.connect(self.refresh)
        self.filter_bar.export_button.clicked.connect(self.export_csv)
        self.detail.force_end_button.clicked.connect(self.force_end_selected)
        self.detail.requeue_button.clicked.connect(self.requeue_selected)
        self.detail.fix_user_button.clicked.connect(self.fix_user_selected)
        self.problems_page.loaded.connect(self._problems_loaded)
        self.problems_page.session_requested.connect(self.show_session)
        self.timeline_page.timeline.window_changed.connect(self._timeline_window_changed)
        self.timeline_page.timeline.session_clicked.connect(self.show_session)
        self.audit_page.trail_checked.connect(self.messages.show_trail)
        self.pages.currentChanged.connect(self._page_changed)

    # -- start, refresh, timers -----------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self.start()
        if self._auto_refresh:
            self._refresh_timer.start()
        self._tick_timer.start()

    def hideEvent(self, event: Any) -> None:
        self._refresh_timer.stop()
        self._tick_timer.stop()
        super().hideEvent(event)

    def start(self) -> None:
        """First load: instruments, the default list, counts, problems."""
        if self._started:
            return
        self._started = True
        self.jobs.submit(load_instruments, self.database, on_done=self._instruments_loaded)
        self.apply_filters()
        self.load_bridge_status()
        self.jobs.after_idle(self.problems_page.load)
        self.jobs.after_idle(self.audit_page.check_trail)

    def refresh(self) -> None:
        """Reload what is shown, keeping the selection (also run by the auto-refresh timer)."""
        if not self._started:
            self.start()
            return
        if self._refreshing:
            return  # the previous refresh is still running; do not pile them up
        self._refreshing = True
        if not self.sessions_page.model.refresh():
            if self.sessions_page.model.query is None:
                self.apply_filters()
        self.sessions_page.load_counts(self.current_query())
        self.load_bridge_status()
        self.detail.files_panel.recount()
        self.detail.reload()
        self._load_current_page()

        def then_problems() -> None:
            self.problems_page.load()
            if self.pages.currentWidget() is not self.audit_page:  # (its load checks it)
                self.audit_page.check_trail()
            self.jobs.after_idle(self._refresh_done)

        self.jobs.after_idle(then_problems)

    def _refresh_done(self) -> None:
        self._refreshing = False
        self.last_refresh = datetime.now(UTC)
        self._update_status()

    @property
    def busy(self) -> bool:
        """True while any query of this tab is running or queued."""
        return self.jobs.busy

    @property
    def last_refresh(self) -> datetime | None:
        """When the last refresh finished (None before the first)."""
        return self.sessions_page.last_refresh

    @last_refresh.setter
    def last_refresh(self, value: datetime | None) -> None:
        self.sessions_page.last_refresh = value

    def show_error(self, error: JobError | str) -> None:
        """Show a problem in the red line under the pages (never a modal box)."""
        self.messages.show_error(error)

    def _clear_error(self) -> None:
        self.messages.clear_error()

    def load_bridge_status(self) -> None:
        """The bridge's last run, what waits each way and its last error (PostgreSQL only)."""
        self.messages.load_bridge(self.jobs, self.database)

    def _instruments_loaded(self, instruments: dict[str, Any]) -> None:
        self.zones = {pid: inst.timezone for pid, inst in instruments.items()}
        self.detail.events_model.zones = self.zones
        self.detail.files_panel.instruments = instruments
        self.filter_bar.set_instruments(instruments)
        self.timeline_page.set_instruments(instruments)

    # -- the sessions list ----------------------------------------------------------------

    def current_query(self) -> summaries.SessionQuery:
        """The query the filter bar and the sort order describe."""
        return self.filter_bar.query(self.sessions_page.model.query, people=not self.hide_people)

    def set_status_filter(self, status: str | None) -> None:
        """Show one status (None: all), as clicking its count does."""
        self.filter_bar.set_status(status)

    def apply_filters(self) -> None:
        """Reload the list and the counts for the filter bar's current values."""
        self.filter_bar.search_timer.stop()
        self.sessions_page.list(self.current_query())
        self.filter_bar.update_count_buttons()

    def _update_status(self) -> None:
        self.sessions_page.update_status()

    def selected_summary(self) -> summaries.SessionSummary | None:
        """The session selected in the list."""
        return self.sessions_page.selected_summary()

    def select_row(self, row: int) -> None:
        """Select ``row`` of the list (and show its detail)."""
        self.sessions_page.select_row(row)

    @property
    def _detail_sid(self) -> str | None:
        return self.detail.session_identifier

    def show_session(self, session_identifier: str) -> None:
        """Show one session: its detail at once, and the list filtered down to it."""
        self.pages.setCurrentIndex(0)
        self.sessions_page.show_detail_of(session_identifier)
        self.filter_bar.only(session_identifier)
        self.apply_filters()
