"""The Admin tab's Fleet page with several simulated PCs, and the window reporting its own PC
(issue 21 req 4). Real widgets, one real SQLite file."""

from __future__ import annotations

import socket
import sqlite3
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from nexus_logger.core.staff import fleet
from nexus_logger.gui.admin.fleet import FleetTableModel
from nexus_logger.gui.main_window import Phase
from tests.gui.helpers_gui import PID, wait_phase
from tests.gui.test_admin_tab import make_tab, wait_idle  # noqa: F401 - the fixture, reused
from tests.rawdb import raw_execute, raw_query


def _pc(db: str, host: str, **kw) -> None:
    values = {"instrument": PID, "waiting_events": 0, "session_identifier": None}
    assert fleet.report_pc(hostname=host, os_login="tech", engine=db, **(values | kw))


def test_fleet_page_lists_every_pc_and_flags_the_ones_that_need_a_look(
    qtbot,
    make_tab,  # noqa: F811 - the fixture imported above
    sqlite_db,
    qtmodeltester,
):
    _pc(sqlite_db, "tem-pc", version="0.3.0")
    _pc(sqlite_db, "sem-pc", version="0.2.0", waiting_events=4)
    _pc(sqlite_db, "old-tem-pc", version="0.3.0")
    stale = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    raw_execute(sqlite_db, "UPDATE nexus_logger_pc SET reported = ? WHERE hostname = 'old-tem-pc'",
                (stale,))  # fmt: skip
    tab = make_tab(sqlite_db)
    tab.resize(760, 640)  # the window's default size
    tab.pages.setCurrentIndex(tab.pages.indexOf(tab.fleet_page))
    page = tab.fleet_page
    qtbot.waitUntil(lambda: page.model.rowCount() == 3)
    wait_idle(qtbot, tab)
    qtmodeltester.check(page.model)
    # What a PC is doing shows without scrolling (it was the last column, always out of sight).
    header = page.view.horizontalHeader()
    session_end = header.sectionViewportPosition(FleetTableModel.SESSION) + header.sectionSize(
        FleetTableModel.SESSION
    )
    assert session_end <= header.viewport().width()
    rows = {page.model.index(r, FleetTableModel.PC).data(): r for r in range(page.model.rowCount())}
    assert list(rows) == ["sem-pc", "tem-pc", "old-tem-pc"]  # most recently heard first

    def cell(host: str, column: int, role=Qt.ItemDataRole.DisplayRole):
        return page.model.index(rows[host], column).data(role)

    assert cell("tem-pc", FleetTableModel.NEEDS) == "OK"
    assert cell("tem-pc", FleetTableModel.NEEDS, Qt.ItemDataRole.ForegroundRole) is None
    assert cell("sem-pc", FleetTableModel.NEEDS) == (
        "runs 0.2.0, older than the newest in the fleet; 4 event(s) waiting on that PC"
    )
    assert cell("sem-pc", FleetTableModel.PC, Qt.ItemDataRole.ForegroundRole) is not None
    assert cell("old-tem-pc", FleetTableModel.LAST_SEEN).startswith("3 d")
    assert cell("tem-pc", FleetTableModel.CLOCK) == "unknown"  # an SQLite file has no clock
    assert tab.pages.tabText(tab.pages.indexOf(page)) == "Fleet (2)"
    assert page.summary.text().startswith("2 of 3 PCs need a look:")
    assert "old-tem-pc: silent for more than 24 h" in page.summary.text()


def test_the_window_reports_its_pc_when_a_session_starts_and_ends(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    host = socket.gethostname().casefold()
    ident = window.session.session_identifier

    def reported() -> list[tuple]:
        try:
            return raw_query(
                sqlite_db, "SELECT hostname, instrument, session_identifier FROM nexus_logger_pc"
            )
        except sqlite3.OperationalError:  # no report yet: the table is made by the first
            return []

    qtbot.waitUntil(lambda: reported() == [(host, PID, ident)])
    window.end_session()
    qtbot.waitUntil(lambda: reported() == [(host, PID, None)])
