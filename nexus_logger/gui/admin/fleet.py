"""The Admin tab's Fleet page: every instrument PC that ever logged and which need a look.

A view over :func:`nexus_logger.core.staff.fleet.list_fleet`; the tab loads the list on its worker
and hands it to :meth:`FleetPage.set_pcs`. Flagged PCs are red, with their reasons in the
last column and in full under the table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QLabel,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core import timestamps
from nexus_logger.core.staff import fleet
from nexus_logger.core.staff.fleet import PcStatus
from nexus_logger.gui.admin.models import ListModel, format_duration
from nexus_logger.gui.admin.table_view import fit_columns, make_table_view

FLAG_COLOR = "#b3261e"


class FleetTableModel(ListModel):
    """One PC per row; column constants name what each column shows."""

    # What staff look for first comes first: at the window's width the last columns need
    # the scroll bar, and "Session running" was the one always out of sight.
    PC, NEEDS, INSTRUMENT, SESSION, LAST_SEEN, WAITING, CLOCK, VERSION, ACCOUNT = range(9)
    HEADERS = (
        "PC",
        "Needs a look",
        "Instrument",
        "Session running",
        "Last heard from",
        "Waiting",
        "Clock offset",
        "Version",
        "Database account",
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.now = lambda: datetime.now(UTC)

    def cell(self, pc: PcStatus, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(pc, column)
        if role == Qt.ItemDataRole.ForegroundRole and pc.flags:
            return QColor(FLAG_COLOR)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.NEEDS and pc.flags:
                return "\n".join(pc.flags)
            if column == self.LAST_SEEN and pc.last_seen:
                return timestamps.on_this_pc(pc.last_seen)
            if column == self.ACCOUNT and pc.os_login:
                return f"OS login: {pc.os_login}"
        return None

    def _display(self, pc: PcStatus, column: int) -> str:
        if column == self.PC:
            return pc.hostname
        if column == self.INSTRUMENT:
            return pc.instrument or ""
        if column == self.VERSION:
            return pc.version or "(no report)"
        if column == self.LAST_SEEN:
            if pc.last_seen is None:
                return "never"
            return format_duration((self.now() - pc.last_seen).total_seconds()) + " ago"
        if column == self.SESSION:
            return pc.session_identifier or ""
        if column == self.WAITING:
            return "" if pc.waiting_events is None else str(pc.waiting_events)
        if column == self.CLOCK:
            offset = pc.clock_offset_seconds
            return "unknown" if offset is None else f"{offset:+.1f} s"
        if column == self.ACCOUNT:
            return pc.db_account or ""
        if column == self.NEEDS:
            return "; ".join(pc.flags) if pc.flags else "OK"
        return ""


class FleetPage(QWidget):
    """The table and one sentence under it: how many PCs, how many need a look, and why."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.model = FleetTableModel(self)
        self.view = make_table_view(self.model, self)
        lay.addWidget(self.view, 1)
        self.summary = QLabel("Loading\u2026", self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)

    def set_pcs(self, pcs: list[PcStatus]) -> None:
        """Show ``pcs`` (from :func:`~nexus_logger.core.staff.fleet.list_fleet`)."""
        self.model.set_items(pcs)
        if pcs:
            fit_columns(self.view)
        lines = [fleet.headline(pcs)]
        lines += [f"\u2022 {pc.hostname}: {'; '.join(pc.flags)}" for pc in pcs if pc.flags]
        self.summary.setText("\n".join(lines))
