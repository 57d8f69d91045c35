"""The Admin tab's bridge line (PostgreSQL only), with real widgets and real databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_logger.cli import main
from nexus_logger.core.settings.config import load_settings
from nexus_logger.core.staff import admin_actions
from nexus_logger.gui.admin import AdminTab
from nexus_logger.gui.worker import DbWorker
from tests.helpers_bridge import add_session, nexuslims_build


def _tab(qtbot, worker: DbWorker, database: str, monkeypatch: pytest.MonkeyPatch) -> AdminTab:
    monkeypatch.setattr(admin_actions, "current_login", lambda: "root")
    values = {"database": database, "administrators": ["root"], "admin_refresh_seconds": 0}
    tab = AdminTab(worker, database, load_settings(None, values))
    tab.resize(1200, 700)
    tab.show()
    qtbot.waitExposed(tab)
    qtbot.waitUntil(lambda: not tab.busy and not tab.model.loading, timeout=15_000)
    return tab


@pytest.mark.postgres
def test_bridge_status_line_on_postgres(
    qtbot,
    db_worker: DbWorker,
    pg_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = add_session(pg_db, 1)
    add_session(pg_db, 2)
    tab = _tab(qtbot, db_worker, pg_db, monkeypatch)
    text = tab.bridge_label.text()
    assert tab.bridge_label.isVisible()
    assert "No bridge has run for this database yet." in text
    assert "Waiting to be copied to NexusLIMS: 2 session(s)." in text
    assert "b3261e" in tab.bridge_label.styleSheet()  # shown as a problem

    nx_file = str(tmp_path / "nexuslims.sqlite")
    assert main(["bridge", "--from", pg_db, "--to", nx_file, "--create"]) == 0
    nexuslims_build(nx_file, first)
    add_session(pg_db, 3)
    tab.refresh()
    qtbot.waitUntil(lambda: "Last successful bridge run" in tab.bridge_label.text(), timeout=15_000)
    text = tab.bridge_label.text()
    assert "Waiting to be copied to NexusLIMS: 1 session(s)." in text
    assert tab.bridge_label.styleSheet() == ""

    # The last error is shown where staff look.
    assert main(["bridge", "--from", pg_db, "--to", str(tmp_path / "gone.sqlite")]) == 6
    capsys.readouterr()
    qtbot.waitUntil(lambda: tab.last_refresh is not None and not tab.busy, timeout=15_000)
    tab.refresh()
    qtbot.waitUntil(lambda: "Last error" in tab.bridge_label.text(), timeout=15_000)
    assert "does not exist" in tab.bridge_label.text()
    assert "b3261e" in tab.bridge_label.styleSheet()
    tab.close()


def test_no_bridge_line_on_sqlite(
    qtbot, db_worker: DbWorker, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = _tab(qtbot, db_worker, sqlite_db, monkeypatch)
    assert not tab.bridge_label.isVisible()
    tab.close()
