"""The Admin tab's pages besides Sessions: which one loads when it is shown, and the page
tabs' counts of what needs a look (problems, PCs of the fleet).

A mixin of :class:`~nexus_logger.gui.admin.tab.AdminTab`, which builds the pages.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTabWidget, QWidget

from nexus_logger.core.settings.config import Settings
from nexus_logger.core.staff import fleet, problems
from nexus_logger.gui.admin.audit_page import AuditPage
from nexus_logger.gui.admin.context import TabJobs
from nexus_logger.gui.admin.filter_bar import FilterBar
from nexus_logger.gui.admin.fleet import FleetPage
from nexus_logger.gui.admin.messages import MessageLines
from nexus_logger.gui.admin.problems_page import ProblemsPage
from nexus_logger.gui.admin.sessions_page import SessionsPage
from nexus_logger.gui.admin.timeline_page import TimelinePage


class TabPages:
    """Loads the Problems, Timeline, Audit and Fleet pages and names their page tabs."""

    # What the tab provides (AdminTab sets each).
    database: str
    settings: Settings
    jobs: TabJobs
    messages: MessageLines
    filter_bar: FilterBar
    pages: QTabWidget
    sessions_page: SessionsPage
    problems_page: ProblemsPage
    timeline_page: TimelinePage
    audit_page: AuditPage
    fleet_page: FleetPage
    _started: bool

    def _page_changed(self, _index: int) -> None:
        self.filter_bar.set_applies(self.pages.currentWidget() is self.sessions_page)
        if self._started:
            self._load_current_page()

    def _load_current_page(self) -> None:
        page = self.pages.currentWidget()
        if page is self.timeline_page:
            self.timeline_page.load()
        elif page is self.audit_page:
            self.load_audit()
        elif page is self.fleet_page:
            self.load_fleet()

    def _problems_loaded(self, found: list[problems.Problem]) -> None:
        self._name_page(self.problems_page, "Problems", len(found))
        self.sessions_page.mark_problems(problems.problems_by_session(found))
        self.messages.show_blocking(found)

    def _timeline_window_changed(self, *_args: Any) -> None:
        self.timeline_page.update_window_label()
        if self.pages.currentWidget() is self.timeline_page:
            self.timeline_page.load()

    def load_audit(self) -> None:
        """Load the newest audit entries."""
        self.audit_page.load()

    def load_fleet(self) -> None:
        """Load every instrument PC that ever logged, and what needs a look (core/staff/fleet.py)."""
        self.jobs.submit(
            fleet.list_fleet,
            silent_hours=float(getattr(self.settings, "fleet_silent_hours", 24.0)),
            clock_limit_seconds=float(getattr(self.settings, "clock_skew_minutes", 5.0)) * 60,
            engine=self.database,
            on_done=self._fleet_loaded,
        )

    def _fleet_loaded(self, pcs: list[fleet.PcStatus]) -> None:
        self.fleet_page.set_pcs(pcs)
        self._name_page(self.fleet_page, "Fleet", sum(bool(pc.flags) for pc in pcs))

    def _name_page(self, page: QWidget, name: str, count: int) -> None:
        """The page's tab says how many of its entries need a look (nothing when none)."""
        self.pages.setTabText(self.pages.indexOf(page), f"{name} ({count})" if count else name)
