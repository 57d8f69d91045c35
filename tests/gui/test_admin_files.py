"""The Admin tab's detail panel: the files NexusLIMS would find for the selected pending session
and the predicted outcome (NexusLIMS's reference database, a real data folder)."""

from __future__ import annotations

from pathlib import Path

from nexus_logger.core.files.filestore import NO_FILES_SENTENCE
from tests.gui.test_admin_tab import make_tab, wait_idle  # noqa: F401 (make_tab: a fixture)
from tests.helpers_files import WITH_FILES, build_data_root


def _select(qtbot, tab, sid: str) -> None:
    row = [s.session_identifier for s in tab.model.summaries()].index(sid)
    tab.select_row(row)
    qtbot.waitUntil(lambda: tab._detail_sid == sid and not tab.busy)


def _counted(qtbot, tab) -> str:
    panel = tab.files_panel
    qtbot.waitUntil(lambda: panel.isVisible() and not panel.text().startswith("Counting"))
    return panel.text()


def test_pending_sessions_show_their_files_and_predicted_outcome(
    qtbot,
    make_tab,  # noqa: F811 (the fixture imported above)
    reference_db: str,
    tmp_path: Path,
) -> None:
    root = build_data_root(reference_db, tmp_path / "data")
    tab = make_tab(reference_db, data_root=str(root))
    _select(qtbot, tab, WITH_FILES)
    assert _counted(qtbot, tab) == (
        "Files NexusLIMS would find: 2 files, 3.0 kB; newest: d3ac94af/run/b.tif at "
        "2025-01-06 10:06:06 EST. Predicted: NexusLIMS will find files and build a record."
    )
    assert tab.files_panel.styleSheet() == ""

    carol = "11e20b8f-6b0d-449b-af03-675a1600a35a"  # Berlin; only an ignored .emi inside
    _select(qtbot, tab, carol)
    assert _counted(qtbot, tab) == (
        f"Files NexusLIMS would find: 0 files. Predicted: {NO_FILES_SENTENCE}."
    )
    assert "b3261e" in tab.files_panel.styleSheet()

    # Not pending: nothing to predict, the line goes away.
    tab.set_status_filter("COMPLETED")
    wait_idle(qtbot, tab)
    _select(qtbot, tab, "128b2f33-0c5c-4fd0-a6a3-a4506513270e")
    assert not tab.files_panel.isVisible()
    qtbot.waitUntil(lambda: tab.files_panel.scanner.pending == 0)


def test_an_unreachable_data_root_is_said_and_none_set_says_nothing(
    qtbot,
    make_tab,  # noqa: F811 (the fixture imported above)
    reference_db: str,
    tmp_path: Path,
) -> None:
    tab = make_tab(reference_db, data_root=str(tmp_path / "share-down"))
    _select(qtbot, tab, WITH_FILES)
    assert _counted(qtbot, tab).startswith(
        f"Files are not counted: the data folder {tmp_path / 'share-down'} cannot be reached"
    )
    quiet = make_tab(reference_db)
    _select(qtbot, quiet, WITH_FILES)
    assert not quiet.files_panel.isVisible()
    assert quiet.files_panel.scanner.pending == 0


def test_viewers_who_may_not_see_people_do_not_see_file_paths(
    qtbot,
    make_tab,  # noqa: F811 (the fixture imported above)
    reference_db: str,
    tmp_path: Path,
) -> None:
    root = build_data_root(reference_db, tmp_path / "data")
    tab = make_tab(
        reference_db,
        login="guest",
        admins=("root",),
        data_root=str(root),
        admin_tab_for_everyone=True,
    )
    assert tab.hide_people
    _select(qtbot, tab, WITH_FILES)
    assert _counted(qtbot, tab) == (
        "Files NexusLIMS would find: 2 files, 3.0 kB. "
        "Predicted: NexusLIMS will find files and build a record."
    )
