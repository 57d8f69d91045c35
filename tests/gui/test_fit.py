"""Every page and dialog at its default size: no text elided or clipped, no jump on a banner.

Each state is filled with the longest real-looking text it shows (a UNC path, a refused start
with the pre-flight check, the offline status), then measured with :mod:`tests.gui.fit`. The
same tests run again in a child process at 125 % scaling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QWidget

from nexus_logger.core.db.instruments import add_instrument
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.files.filestore import FileReport, data_root_problem
from nexus_logger.core.files.filestore_scan import FileTally
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.core.staff import admin_actions
from nexus_logger.gui.dialogs import CloseDialog, ResumeDialog
from nexus_logger.gui.log_window import LogWindow
from nexus_logger.gui.main_window import MainWindow, Phase
from nexus_logger.gui.no_files_dialog import NoFilesDialog
from nexus_logger.gui.owner_dialog import OtherUserDialog
from nexus_logger.gui.pages import Step, StepState
from nexus_logger.gui.screen_room import FRAME_ROOM
from nexus_logger.gui.session_files import files_line
from tests.gui.fit import problems_in
from tests.gui.helpers_gui import wait_phase
from tests.helpers_admin import build_problem_db

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 10, 14, 30, 12, tzinfo=ZONE)
LONG_INSTRUMENT = Instrument(
    instrument_pid="FEI-Titan-TEM-635816",
    display_name="FEI Titan TEM",
    timezone="America/New_York",
    location="Building 217, room B113",
)
SESSION = OpenSession(
    session_identifier="5d0f4e0c-8a43-4b0e-9f57-2f3b7c1d9a10",
    instrument=LONG_INSTRUMENT,
    user="jsmith",
    started=NOW - timedelta(hours=20, minutes=5),
    start_text=(NOW - timedelta(hours=20, minutes=5)).isoformat(),
    last_heartbeat=NOW - timedelta(hours=16, minutes=48),
    note="EELS maps of sample 7b",
)
UNC = r"\\nexuslims-share\nexuslims\nexuslims_db.sqlite"
UNC_DATA = r"\\nexuslims-share\instrument-data"
#: The longest lines the files line shows: counted with a long file name, none, unreachable.
FILES_LINES = (
    (
        files_line(
            FileReport(
                SESSION.started,
                NOW,
                UNC_DATA,
                tally=FileTally(
                    count=123_456,
                    total_bytes=987_654_321_000,
                    newest_path="2026-03-10/EELS/" + "spectrum_image_binned_4x4_" * 3 + ".dm4",
                    newest_mtime=NOW,
                    complete=False,
                ),
            ),
            "America/New_York",
        ),
        "counted, stopped early",
    ),
    (
        files_line(
            FileReport(
                SESSION.started,
                NOW,
                UNC_DATA,
                Path(UNC_DATA) / "FEI-Titan-TEM-635816",
                FileTally(folder_exists=False),
            ),
            None,
        ),
        "no files, no folder",
    ),
    (data_root_problem(UNC_DATA + r"\FEI-Titan-TEM-635816-archive-2026"), "unreachable"),
)
SCALED = os.environ.get("QT_SCALE_FACTOR") not in (None, "", "1")


def settle(qtbot) -> None:
    qtbot.wait(50)
    QApplication.processEvents()


def assert_fits(qtbot, widget, what: str) -> None:
    settle(qtbot)
    found = problems_in(widget)
    assert not found, what + ":\n" + "\n".join(found)


def assert_default_size(win: QWidget, width: int, height: int) -> None:
    """``width`` x ``height``, or the screen's room when it has less (the scaled run's
    640 x 640 screen): the window, frame and all, is on the screen."""
    room = win.screen().availableGeometry()
    assert (win.width(), win.height()) == (
        min(width, room.width() - FRAME_ROOM[0]),
        min(height, room.height() - FRAME_ROOM[1]),
    )


@pytest.fixture
def window(make_window, sqlite_db: str) -> MainWindow:
    win = make_window(sqlite_db, start=False)
    assert_default_size(win, 760, 640)
    return win


@pytest.mark.parametrize("size", ["default", "minimum"])
def test_session_pages_fit(qtbot, make_window, sqlite_db: str, size: str) -> None:
    """Every page at the window's default size and at its smallest (1366 x 768 at 150 %):
    the pages scroll, End and the ended page's buttons stay in sight."""
    win = make_window(sqlite_db)
    assert_default_size(win, 760, 640)
    if size == "minimum":
        win.resize(win.minimumSize())
    wait_phase(qtbot, win, Phase.RUNNING)
    steps, session, ended = win.steps_page, win.session_page, win.ended_page
    assert_fits(qtbot, win, "running")
    if size == "default" and not SCALED:  # at 100 % the page shows whole without scrolling
        assert not session.scroll.verticalScrollBar().isVisible()
    assert _in_sight(session.end_button)
    # The note field has the focus at start: in sight, scrolled to if need be.
    qtbot.waitUntil(session.note_edit.hasFocus)
    qtbot.waitUntil(lambda: _in_view(session.scroll, session.note_edit))
    end_at = session.end_button.geometry()

    session.show_session(SESSION, queued=True, now=NOW)
    session.set_message(
        "The database cannot be reached right now. The session start is saved on this PC "
        "and will be sent automatically."
    )
    session.note_status.setText(
        "Note not saved yet: this window saves it when the database answers."
    )
    win.sync_indicator.set_state(False, 2, 1)
    assert_fits(qtbot, win, "running offline")
    if size == "default":  # longer messages do not move End (smaller, the status line wraps)
        assert session.end_button.geometry() == end_at
    for line, what in FILES_LINES:
        session.set_files(line, empty="no files" in line)
        assert_fits(qtbot, win, f"running offline, files line: {what}")
        assert size != "default" or session.end_button.geometry() == end_at
    session.set_checking_files()
    assert_fits(qtbot, win, "checking the files before ending")
    session.set_ending()
    assert_fits(qtbot, win, "ending")

    win.pages.setCurrentWidget(steps)
    steps.reset()
    steps.set_step(Step.CONNECT, StepState.WARNING, UNC)
    steps.set_step(Step.IDENTIFY, StepState.DONE, "FEI Titan TEM (FEI-Titan-TEM-635816)")
    steps.set_step(Step.CHECK, StepState.DONE, "Open session found: jsmith, since 09:12 today.")
    steps.set_step(Step.START, StepState.FAILED)
    steps.show_error(
        "This PC (host name 'TITAN-SUPPORT-PC') is not linked to an instrument in the "
        f"database {UNC}. Known instruments: FEI-Quanta-ESEM-633137, FEI-Titan-TEM-635816. "
        "Run 'nexus-logger station set PID' on this PC once, or pass --instrument PID."
    )
    steps.show_diagnosis(
        "Pre-flight check \u201cThis PC's instrument\u201d: What to do: Map this PC once with "
        "'nexus-logger station set PID' (it is stored in the database for every user of this "
        "PC), or set 'instrument' in the config file."
    )
    assert_fits(qtbot, win, "failed")
    if size == "default" and not SCALED:  # at 100 % the failure page shows whole
        assert not steps.scroll.verticalScrollBar().isVisible()
    steps.show_details(True)
    assert_fits(qtbot, win, "failed, with details")

    win.pages.setCurrentWidget(ended)
    ended.show_ended(
        instrument="FEI Titan TEM (FEI-Titan-TEM-635816)",
        user="jsmith",
        started=SESSION.started,
        ended=NOW,
        message="The database cannot be reached: the end of the session is saved on this PC "
        "and will be sent automatically. NexusLIMS builds its record after that.",
        queued=True,
        now=NOW,
    )
    ended.set_countdown(3)
    assert_fits(qtbot, win, "ended, counting down")
    assert _in_sight(ended.keep_open_button)
    ended.set_countdown(None)
    win.activateWindow()
    ended.new_button.setFocus()
    qtbot.waitUntil(ended.new_button.hasFocus)
    assert_fits(qtbot, win, "ended, kept open, its main button focused")


def _in_sight(widget: QWidget) -> bool:
    """``widget`` is shown whole inside its window (not cut by the window's edge)."""
    window = widget.window()
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return window.rect().contains(QRect(top_left, widget.size()))


def _in_view(scroll, widget: QWidget) -> bool:
    """``widget`` is shown whole in ``scroll``'s viewport (not scrolled out of it)."""
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, widget.rect().topLeft())
    return viewport.rect().contains(QRect(top_left, widget.size()))


def test_a_long_instrument_name_fits_the_running_page(qtbot, make_window, sqlite_db: str) -> None:
    """A 60-character name and its identifier wrap over three lines: none is cut (the third
    was cut in half; the page now scrolls when it must)."""
    pid = "FEI-Titan-Themis-Cubed-300kV-Cs-Corrected-STEM-EDX-EELS-0001"
    add_instrument(
        pid,
        display_name="Thermo Fisher Titan Themis Cubed 300 kV, Bldg 217 Room E-118",
        timezone="Europe/Berlin",
        engine=sqlite_db,
    )
    win = make_window(sqlite_db, instrument=pid)
    wait_phase(qtbot, win, Phase.RUNNING)
    win.session_page.set_files(FILES_LINES[0][0], empty=False)
    assert_fits(qtbot, win, "running, 60-character instrument, files line")
    assert _in_sight(win.session_page.end_button)
    # A sentence shown under the note comes into sight: below the fold nobody saw it, and a
    # keyboard cannot scroll the page.
    page = win.session_page
    win.resize(760, 480)
    qtbot.waitUntil(lambda: page.scroll.verticalScrollBar().maximum() > 0)
    page.scroll.verticalScrollBar().setValue(0)
    page.set_message("Zoë's session was ended at 14:47 today. " * 3)
    qtbot.waitUntil(lambda: _in_view(page.scroll, page.message_label))


def test_the_debug_log_window_fits_its_screen(qtbot, tmp_path: Path) -> None:
    log = LogWindow(path=tmp_path / "nexus-logger.log")
    qtbot.addWidget(log)
    assert_default_size(log, 900, 560)


def test_dialogs_fit(qtbot, window: MainWindow, tmp_path: Path) -> None:
    report = FileReport(SESSION.started, NOW, UNC_DATA, Path(UNC_DATA) / "FEI-Titan-TEM-635816")
    no_files = NoFilesDialog(report, "America/New_York", window)
    qtbot.addWidget(no_files)
    no_files.show()
    assert_fits(qtbot, no_files, "no files dialog")
    resume = ResumeDialog(SESSION, window, now=NOW)
    qtbot.addWidget(resume)
    resume.show()
    assert_fits(qtbot, resume, "resume dialog")
    for session, what in (
        (SESSION, "another user's session"),
        (replace(SESSION, last_heartbeat=None), "another user's session, no heartbeat"),
        # Accents reach above and below the line; a long name made the buttons too narrow.
        (replace(SESSION, user="Zo\u00eb \u00c5ngstr\u00f6m-\u00c7elik"), "an accented owner"),
        (
            replace(
                SESSION,
                user="Jos\u00e9-Mar\u00eda Fern\u00e1ndez-\u00d1\u00fa\u00f1ez de la Pe\u00f1a",
            ),
            "a long owner name",
        ),
    ):
        owner = OtherUserDialog(session, "a.very-long-login-name", window, now=NOW)
        qtbot.addWidget(owner)
        owner.show()
        room = owner.screen().availableGeometry()
        assert owner.width() <= room.width() and owner.height() <= room.height(), what
        # Its lines wrap to the width shown (no sideways scrolling: lines were cut there).
        qtbot.waitUntil(owner.new_button.hasFocus)
        settle(qtbot)
        assert owner.scroll.horizontalScrollBar().maximum() == 0, what
        assert_fits(qtbot, owner, what)
        owner.at_typed.setChecked(True)
        owner.time_edit.setText("2026-03-10 15:00")
        owner.new_button.click()
        assert owner.problem_label.text()
        assert_fits(qtbot, owner, what + ", a time refused")
        owner._choice = owner.choice() or object()  # let it close
        owner.close()
    close = CloseDialog("FEI Titan TEM", window)
    qtbot.addWidget(close)
    close.show()
    assert_fits(qtbot, close, "close dialog")
    log_file = tmp_path / "x.log"
    log_file.write_text("2026-03-10T13:06:27.114-05:00 INFO     nexus_logger.gui.app: shown\n")
    log = LogWindow(window, path=log_file)
    log.show()
    assert_fits(qtbot, log, "log window")
    log.close()


def _admin_tab(qtbot, win: MainWindow):
    win.tabs.setCurrentIndex(1)
    tab = win._admin_tab
    assert tab is not None
    qtbot.waitUntil(lambda: not tab.busy and not tab.model.loading, timeout=15_000)
    return tab


@pytest.mark.parametrize("admin", [True, False], ids=["administrator", "read-only"])
def test_admin_tab_fits_in_the_window(
    qtbot, make_window, sqlite_db: str, monkeypatch: pytest.MonkeyPatch, admin: bool
) -> None:
    build_problem_db(sqlite_db)
    monkeypatch.setattr(admin_actions, "current_login", lambda: "facility-admin")
    win = make_window(
        sqlite_db,
        start=False,
        administrators=["facility-admin"] if admin else [],
        admin_refresh_seconds=0,
    )
    # On a 1366 x 768 screen at 125 % or 150 % staff maximize the window for the Admin tab.
    if SCALED:
        win.resize(win.screen().availableGeometry().size())
    tab = _admin_tab(qtbot, win)
    assert_fits(qtbot, win, "sessions, nothing selected")
    tab.set_status_filter(None)
    qtbot.waitUntil(lambda: not tab.busy and not tab.model.loading, timeout=15_000)
    tab.select_row(0)
    qtbot.waitUntil(lambda: not tab.busy, timeout=15_000)
    assert_fits(qtbot, win, "sessions, one selected")
    report = FileReport(
        SESSION.started,
        NOW,
        UNC_DATA,
        Path(UNC_DATA) / "FEI-Titan-TEM-635816",
        FileTally(folder_exists=False),
    )
    tab.files_panel.setText(
        f"Files NexusLIMS would find: {report.files_text('America/New_York')}. "
        f"Predicted: {report.outcome_text(NOW, 'America/New_York')}"
    )
    tab.files_panel.setVisible(True)
    assert_fits(qtbot, win, "sessions, one selected, its files predicted")
    tab.files_panel.clear()
    # What an action says when done (as long as a force-end's summary with a long user name).
    tab.action_label.setText(
        "Done (audit entry 2): Force-end session c32da233-08dd-4dcc-ada8-0753f08e894d on "
        "DEMO-XPS-04 (user 'bob.verylongusername@FACILITY.EXAMPLE.ORG') at "
        "2026-12-07T05:40:00-07:00, 17 s after it started; it becomes TO_BE_BUILT."
    )
    assert_fits(qtbot, win, "sessions, one selected, an action done")
    rows = tab.sessions_page.detail.events_view
    # Not squeezed: its title row and a START and an END row still show whole.
    assert (
        rows.height()
        >= rows.horizontalHeader().height() + 2 * rows.verticalHeader().defaultSectionSize()
    )
    tab.action_label.clear()
    for index in range(1, tab.pages.count()):
        tab.pages.setCurrentIndex(index)
        qtbot.waitUntil(lambda: not tab.busy, timeout=15_000)
        if index == 1:
            tab.problems_view.selectRow(0)
        assert_fits(qtbot, win, f"admin page {tab.pages.tabText(index)}")


def test_a_banner_does_not_move_the_pages(
    qtbot, make_window, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_actions, "current_login", lambda: "facility-admin")
    win = make_window(sqlite_db, start=False, administrators=["facility-admin"])
    tab = _admin_tab(qtbot, win)
    settle(qtbot)
    before = tab.pages.geometry()
    tab.show_error("The database cannot be reached (a long reason). Check the network.")
    settle(qtbot)
    assert tab.pages.geometry().top() == before.top()
    tab._clear_error()


@pytest.mark.skipif(SCALED, reason="this is the parent of the scaled run")
@pytest.mark.parametrize(
    ("width", "scale"), [(1366, "1.25"), (1366, "1.5"), (1024, "1.5")], ids=str
)
def test_everything_fits_scaled_on_a_laptop_screen(tmp_path: Path, width: int, scale: str) -> None:
    """The tests above again on a 1366 x 768 screen at 125 % and 150 % (1093 x 614 and
    911 x 512 in Qt's pixels) and a 1024 x 768 one at 150 % (683 x 512), as old instrument
    PCs and laptops run."""
    screens = tmp_path / "screen.json"
    screen = {"name": "laptop", "x": 0, "y": 0, "width": width, "height": 768}
    screen |= {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    screens.write_text(json.dumps({"screens": [screen]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={screens}"}
    env["QT_SCALE_FACTOR"] = scale
    env["NEXUS_LOGGER_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_the_admin_window_fits_its_screen(qtbot, db_worker, sqlite_db: str) -> None:
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.gui.admin.window import AdminWindow

    build_problem_db(sqlite_db)
    settings = load_settings(None, {"database": sqlite_db, "admin_refresh_seconds": 0})
    window = AdminWindow(db_worker, settings)
    qtbot.addWidget(window)
    window.show()
    room = window.screen().availableGeometry()
    assert window.width() <= room.width() and window.height() <= room.height()
    tab = window.tab
    qtbot.waitUntil(lambda: not tab.busy and not tab.model.loading, timeout=15_000)
    assert_fits(qtbot, window, "admin window")
    window.resize(1280, 820)  # its size on a screen with room for it
    assert_fits(qtbot, window, "admin window at 1280 x 820")


def test_the_demo_banner_fits(qtbot, make_window) -> None:
    win = make_window("", instrument="", demo=True)
    wait_phase(qtbot, win, Phase.RUNNING)
    assert win.demo_banner.isVisible()
    assert_fits(qtbot, win, "running on the demo database, with its banner")


def test_the_not_set_up_page_fits(qtbot, make_window) -> None:
    win = make_window("", instrument="")
    wait_phase(qtbot, win, Phase.FAILED)
    label = win.steps_page.diagnosis_label
    qtbot.waitUntil(lambda: "What to do" in label.text(), timeout=15_000)
    assert_fits(qtbot, win, "this PC is not set up")
