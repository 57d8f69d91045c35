"""The window's files line and the warning before an empty record (pytest-qt, real files).

The test instrument's folder is ``<data root>/TEST-TEM-001`` (its ``filestore_path``); files
get their modification times with ``os.utime``. The question is answered by replacing
``ask_end_without_files``, so no test waits on a modal dialog.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt

from nexus_logger.core.files.filestore import NO_FILES_SENTENCE, FileReport, Outcome
from nexus_logger.gui.main_window import ENDED_WITHOUT_FILES, MainWindow, Phase
from nexus_logger.gui.no_files_dialog import EndChoice, NoFilesDialog
from tests.gui.helpers_gui import PID, rows_of, wait_phase


def _put(path: Path, modified: datetime, size: int = 2048) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def _running(qtbot, make_window, db: str, **settings) -> MainWindow:
    window = make_window(db, **settings)
    wait_phase(qtbot, window, Phase.RUNNING)
    return window


def _files_text(window: MainWindow) -> str:
    return window.session_page.files_label.text()


def _ask(answers: list[EndChoice], asked: list[FileReport]):
    def ask(report: FileReport) -> EndChoice:
        asked.append(report)
        return answers.pop(0)

    return ask


def test_the_files_line_counts_what_nexuslims_would_take(
    qtbot, make_window, sqlite_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "data" / PID
    _put(folder / "old.dm3", datetime.now(UTC) - timedelta(days=1))  # before the session
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    qtbot.waitUntil(lambda: "no files so far" in _files_text(window))
    assert window.session_page.files_label.isVisible()

    started = window.session.started
    _put(folder / "maps" / "eels_0001.dm3", started + timedelta(milliseconds=10), size=1_500_000)
    _put(folder / "maps" / "notes.txt", started + timedelta(milliseconds=20))  # no extractor
    _put(folder / "frames.mib", started + timedelta(milliseconds=30))  # ignored
    window.files_watch.count_now()
    qtbot.waitUntil(lambda: "1 file so far" in _files_text(window))
    local = (started + timedelta(milliseconds=10)).astimezone(window.session.started.tzinfo)
    assert _files_text(window) == (
        f"NexusLIMS would take 1 file so far (1.5 MB); newest: eels_0001.dm3 at {local:%H:%M:%S}."
    )
    # Counting never queues behind the database: the database worker had no part in it.
    assert window.files_watch.scanner is not window.worker


def test_end_without_files_asks_and_each_answer_is_kept(
    qtbot, make_window, sqlite_db: str, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="nexus_logger.gui.main_window")
    (tmp_path / "data" / PID).mkdir(parents=True)
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    ident = window.session.session_identifier
    asked: list[FileReport] = []
    window.ask_end_without_files = _ask(  # type: ignore[method-assign]
        [EndChoice.KEEP_RUNNING, EndChoice.END_ANYWAY], asked
    )

    qtbot.mouseClick(window.session_page.end_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(asked) == 1)
    assert asked[0].outcome() is Outcome.NO_FILES_FOUND
    assert asked[0].folder == tmp_path / "data" / PID
    assert window.phase is Phase.RUNNING
    assert window.session_page.message_label.text() == "The session is still running."
    assert window.session_page.end_button.isEnabled()
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START"]
    assert f"session {ident}: NexusLIMS would find no files" in caplog.text
    assert "the user chose keep the session running" in caplog.text

    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    assert len(asked) == 2
    assert "the user chose end anyway" in caplog.text
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    # The ended page does not promise a record it was just told will not come.
    assert window.ended_page.message_label.text() == ENDED_WITHOUT_FILES


def test_the_clock_stays_at_the_click_while_the_person_is_asked(
    qtbot, make_window, sqlite_db: str, tmp_path: Path, monkeypatch
) -> None:
    """The clock ran on while the files were counted and the question was open, then jumped
    back to the click when the session ended. It now stays at the click, and runs again only
    if the person keeps the session running."""
    from nexus_logger.gui.main_window import running

    (tmp_path / "data" / PID).mkdir(parents=True)
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    label = window.session_page.elapsed_label

    class HourLater(datetime):  # the clock's "now", an hour after the click
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) + timedelta(hours=1)

    shown: list[str] = []

    def ask(_report: FileReport) -> EndChoice:
        monkeypatch.setattr(running, "datetime", HourLater)
        window._update_elapsed()  # a tick of the clock while the question is open
        shown.append(label.text())
        return EndChoice.KEEP_RUNNING

    window.ask_end_without_files = ask  # type: ignore[method-assign]
    window.end_session()
    qtbot.waitUntil(lambda: len(shown) == 1)
    assert shown[0].startswith("0:00:"), shown  # the time at the click, not an hour on
    assert label.text().startswith("1:00:")  # kept running: the clock runs again


def test_end_with_files_ends_without_asking(
    qtbot, make_window, sqlite_db: str, tmp_path: Path
) -> None:
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    _put(tmp_path / "data" / PID / "a.tif", window.session.started + timedelta(milliseconds=5))
    window.end_session()  # asking would fail the test (make_window)
    wait_phase(qtbot, window, Phase.ENDED)
    assert (
        window.ended_page.message_label.text() == "Session ended. NexusLIMS will build its record."
    )


def test_a_file_saved_just_before_end_counts(
    qtbot, make_window, sqlite_db: str, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    qtbot.waitUntil(lambda: "no files so far" in _files_text(window))
    assert "the folder" in _files_text(window) and "does not exist yet" in _files_text(window)
    # Saved after the last count: End counts again up to its click instead of trusting it.
    _put(tmp_path / "data" / PID / "last.ser", datetime.now(UTC) - timedelta(milliseconds=1))
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)


def test_an_unreachable_data_root_is_said_quietly_and_end_is_normal(
    qtbot, make_window, sqlite_db: str, tmp_path: Path
) -> None:
    share = tmp_path / "share-down"
    window = _running(qtbot, make_window, sqlite_db, data_root=str(share))
    qtbot.waitUntil(lambda: "cannot be reached" in _files_text(window))
    assert _files_text(window) == (
        f"Files are not counted: the data folder {share} cannot be reached (it does not exist "
        "or is not a folder)."
    )
    assert window.session_page.files_label.palette().windowText().color().name() == "#5f6368"
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)


def test_without_a_data_root_the_window_ends_at_once(qtbot, make_window, sqlite_db: str) -> None:
    window = _running(qtbot, make_window, sqlite_db)
    # Nothing the person at the instrument can act on: no line at all.
    assert _files_text(window) == "" and not window.session_page.files_label.isVisible()
    window.end_session()
    assert window.phase is Phase.ENDING  # no count, no wait: straight to the END


def test_logoff_ends_without_asking_even_without_files(
    qtbot, make_window, sqlite_db: str, tmp_path: Path
) -> None:
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path))
    assert window.end_for_shutdown(timeout_ms=15_000)


def test_the_dialog_choices(qtbot, tmp_path: Path) -> None:
    start = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    report = FileReport(start, start + timedelta(hours=1), str(tmp_path), tmp_path / "TEM")
    for button, expected in (
        ("end_button", EndChoice.END_ANYWAY),
        ("keep_button", EndChoice.KEEP_RUNNING),
    ):
        dialog = NoFilesDialog(report, "America/New_York")
        qtbot.addWidget(dialog)
        assert dialog.title_label.text() == NO_FILES_SENTENCE + "."
        assert "2026-03-10 05:00:00 EDT" in dialog.explain_label.text()
        qtbot.mouseClick(getattr(dialog, button), Qt.MouseButton.LeftButton)
        assert dialog.choice() is expected
    dialog = NoFilesDialog(report, None)
    qtbot.addWidget(dialog)
    dialog.reject()  # Escape: nothing is lost
    assert dialog.choice() is EndChoice.KEEP_RUNNING


def test_the_demo_shows_no_files_line_and_never_warns(qtbot, make_window, tmp_path: Path) -> None:
    # Demo sessions never reach NexusLIMS: what it would take is not shown, nor asked about.
    (tmp_path / "DEMO-TEM-01").mkdir()  # an empty folder: a real session would be warned
    window = make_window("", instrument="", demo=True, data_root=str(tmp_path))
    wait_phase(qtbot, window, Phase.RUNNING)
    assert not window.files_watch.counting
    assert not window.session_page.files_label.isVisible()
    window.end_session()  # asking would fail the test (make_window)
    wait_phase(qtbot, window, Phase.ENDED)
    assert "NO_FILES_FOUND" not in window.ended_page.message_label.text()


def test_a_count_that_fails_replaces_the_last_line(
    qtbot, make_window, sqlite_db: str, tmp_path: Path, monkeypatch
) -> None:
    import nexus_logger.gui.session_files as session_files

    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path / "data"))
    _put(tmp_path / "data" / PID / "a.dm3", window.session.started + timedelta(milliseconds=10))
    # The window's first count may still run (it may have listed the folder before the file
    # came): count_now() is ignored while a count runs, so wait for it to finish.
    qtbot.waitUntil(lambda: not window.files_watch._busy, timeout=15_000)
    window.files_watch.count_now()
    qtbot.waitUntil(lambda: "1 file so far" in _files_text(window))

    def share_gone(*_args, **_kwargs):
        raise OSError(64, "The specified network name is no longer available")

    monkeypatch.setattr(session_files, "report_for_settings", share_gone)
    qtbot.waitUntil(lambda: not window.files_watch._busy, timeout=15_000)
    window.files_watch.count_now()
    qtbot.waitUntil(
        lambda: _files_text(window).startswith("Files are not counted:"), timeout=15_000
    )
    assert "no longer available" in _files_text(window)  # never the old "1 file so far"


def test_a_count_cut_short_or_blocked_never_says_no_files_so_far(tmp_path: Path) -> None:
    from nexus_logger.core.files.filestore_scan import FileTally
    from nexus_logger.gui.session_files import files_line

    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    folder = tmp_path / PID

    def line(tally: FileTally) -> str:
        report = FileReport(start, start, str(tmp_path), folder=folder, tally=tally)
        return files_line(report, "America/New_York")

    assert line(FileTally(complete=True)) == "NexusLIMS would take no files so far."
    cut = line(FileTally(complete=False, entries=500_000))
    assert "no files among the first 500,000 entries" in cut and "so far" not in cut
    blocked = line(FileTally(unreadable=2))
    assert blocked.startswith("Files are not counted: 2 folder(s)") and "cannot be read" in blocked


def test_closing_while_end_counts_the_files_ends_nothing(
    qtbot, make_window, sqlite_db: str, tmp_path: Path, monkeypatch
) -> None:
    """A share that answers slowly: End waits for the count; *Keep it open and close*
    meanwhile keeps the session open, and the count's late answer ends nothing."""
    import threading

    from nexus_logger.gui import session_files
    from nexus_logger.gui.dialogs import CloseChoice

    real = session_files.report_for_settings
    answer = threading.Event()

    def slow_share(*args, cancel, **kwargs):
        while not answer.is_set() and not cancel():
            answer.wait(0.01)
        return real(*args, cancel=cancel, **kwargs)

    monkeypatch.setattr(session_files, "report_for_settings", slow_share)
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path))
    ident = window.session.session_identifier
    window.end_session()
    assert window.session_page.end_button.text() == "Checking the session's files\u2026"
    assert window.phase is Phase.RUNNING
    window.ask_close_choice = lambda: CloseChoice.KEEP_OPEN  # type: ignore[method-assign]
    window.close()
    assert not window.isVisible() and window.paused
    answer.set()
    qtbot.wait(100)
    assert window.phase is Phase.RUNNING
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START"]


def test_the_count_repeats_by_itself(
    qtbot, make_window, sqlite_db: str, tmp_path: Path, monkeypatch
) -> None:
    from nexus_logger.gui import session_files

    monkeypatch.setattr(session_files, "REFRESH_MS", 100)  # 5 s in the window
    window = _running(qtbot, make_window, sqlite_db, data_root=str(tmp_path))
    qtbot.waitUntil(lambda: "no files so far" in _files_text(window))
    _put(tmp_path / PID / "a.dm3", window.session.started + timedelta(milliseconds=1))
    qtbot.waitUntil(lambda: "1 file so far" in _files_text(window))
    _put(tmp_path / PID / "b.dm3", window.session.started + timedelta(milliseconds=2))
    qtbot.waitUntil(lambda: "2 files so far" in _files_text(window))
