"""The instrument-PC window, flow by flow, against real SQLite databases (Qt offscreen).

Each test drives the window as a person would (buttons, shortcuts, the close button) and then
checks the database itself: the rows NexusLIMS will read, not only what the window says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget

from nexus_logger.core import timestamps
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.session_handler import get_sessions_to_build
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.settings.config import load_settings
from nexus_logger.core.settings.identity import os_login
from nexus_logger.gui.dialogs import CloseChoice, ResumeAction, ResumeChoice
from nexus_logger.gui.main_window import MainWindow, Phase, running
from nexus_logger.gui.pages import Step, StepState
from tests.gui.helpers_gui import PID, gui_settings, rows_of, session_rows, wait_phase
from tests.rawdb import raw_query


def _running_identifier(window: MainWindow) -> str:
    assert window.session is not None
    return window.session.session_identifier


def test_launch_runs_the_steps_in_order_and_starts_a_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, start=False)
    seen: list[tuple[Step, StepState]] = []
    original = window.steps_page.set_step

    def record(step, state, detail=""):
        seen.append((step, state))
        original(step, state, detail)

    window.steps_page.set_step = record
    assert window.pages.currentWidget() is window.steps_page  # shown before any database work
    window.start()
    assert window.phase is Phase.STARTING
    assert window.steps_page.state(Step.CONNECT) is StepState.ACTIVE
    wait_phase(qtbot, window, Phase.RUNNING)

    progress = [(s, st) for s, st in seen if st is not StepState.PENDING]
    assert progress == [
        (Step.CONNECT, StepState.ACTIVE),
        (Step.CONNECT, StepState.DONE),
        (Step.IDENTIFY, StepState.ACTIVE),
        (Step.IDENTIFY, StepState.DONE),
        (Step.CHECK, StepState.ACTIVE),
        (Step.CHECK, StepState.DONE),
        (Step.START, StepState.ACTIVE),
        (Step.START, StepState.DONE),
    ]
    assert window.steps_page.progress.value() == 4
    ident = _running_identifier(window)
    user = lifecycle.default_user()
    (start,) = rows_of(sqlite_db, ident)
    assert (start["event_type"], start["record_status"], start["user"], start["instrument"]) == (
        "START",
        "WAITING_FOR_END",
        user,
        PID,
    )
    page = window.session_page
    assert window.pages.currentWidget() is page
    assert page.instrument_label.text() == f"Test TEM ({PID})"
    assert page.user_label.text() == f"User: {user}"
    assert page.started_label.text().startswith("Started: ")
    assert page.end_button.isEnabled() and page.end_button.isVisible()
    qtbot.waitUntil(lambda: window.sync_indicator.plain_text().startswith("Online"))


def test_elapsed_time_counts_up(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window.session is not None
    # Pretend the session started 1 h 2 min 3 s ago; the clock must follow within a tick.
    window.session = window.session.__class__(
        **{**window.session.__dict__, "started": window.session.started - timedelta(seconds=3723)}
    )
    qtbot.waitUntil(
        lambda: window.session_page.elapsed_label.text() in {"1:02:03", "1:02:04", "1:02:05"},
        timeout=3000,
    )


def test_end_button_ends_the_session_and_the_window_counts_down(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=2)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.mouseClick(window.session_page.end_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.ENDED)

    rows = rows_of(sqlite_db, ident)
    assert [(r["event_type"], r["record_status"]) for r in rows] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    assert rows[0]["user"] == rows[1]["user"]
    built = get_sessions_to_build(engine=sqlite_db)
    assert [s.session_identifier for s in built] == [ident]

    page = window.ended_page
    assert window.pages.currentWidget() is page
    assert page.duration_label.text().startswith("Duration: ")
    assert page.countdown_label.text() == "This window closes in 2 s."
    assert page.keep_open_button.isVisible()
    qtbot.waitUntil(lambda: page.countdown_label.text() == "This window closes in 1 s.")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=4000)


def test_keep_window_open_cancels_the_countdown_and_a_new_session_can_start(
    qtbot, make_window, sqlite_db
):
    window = make_window(sqlite_db, auto_close_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    first = _running_identifier(window)
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    qtbot.mouseClick(window.ended_page.keep_open_button, Qt.MouseButton.LeftButton)
    assert window.ended_page.countdown_label.text() == ""
    assert window.ended_page.new_button.isVisible()
    qtbot.wait(1300)  # longer than the countdown was: the window must stay
    assert window.isVisible()
    qtbot.mouseClick(window.ended_page.new_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert _running_identifier(window) != first
    assert [r["event_type"] for r in session_rows(sqlite_db)] == ["START", "END", "START"]


def test_keyboard_shortcut_ends_the_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    window.activateWindow()
    qtbot.keyClick(
        window.session_page.end_button, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier
    )
    wait_phase(qtbot, window, Phase.ENDED)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    # Once ended, the shortcut does nothing (no second END, no error).
    qtbot.keyClick(window.ended_page, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]


def test_ctrl_e_on_the_admin_tab_shows_the_end_on_the_session_tab(qtbot, make_window, sqlite_db):
    """The shortcut works on the Admin tab too; the END was then written out of sight and
    the window closed a few seconds later without having said so."""
    window = make_window(sqlite_db, administrators=[os_login()], auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    window.tabs.setCurrentIndex(1)
    window.activateWindow()
    qtbot.keyClick(window.tabs.currentWidget(), Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    wait_phase(qtbot, window, Phase.ENDED)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    assert window.tabs.currentIndex() == 0
    assert window.pages.currentWidget() is window.ended_page


def test_turning_to_the_admin_tab_after_end_keeps_the_window_open(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, administrators=[os_login()], auto_close_seconds=2)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    assert window._countdown.isActive()
    window.tabs.setCurrentIndex(1)  # staff look something up right after their END
    assert not window._countdown.isActive()
    assert window.ended_page.countdown_label.text() == ""
    assert window.isVisible()


def test_enter_on_the_focused_end_button_ends_the_session(qtbot, make_window, sqlite_db):
    """A keyboard user tabs to *End session* and presses Enter (Qt presses a focused button
    on Enter only in dialogs); Enter in the note field saves the note and ends nothing."""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    page = window.session_page
    qtbot.keyClicks(page.note_edit, "tilt series")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.note_status.text() == "Note saved.")
    assert window.phase is Phase.RUNNING
    page.end_button.setFocus()
    qtbot.keyClick(page.end_button, Qt.Key.Key_Return)
    wait_phase(qtbot, window, Phase.ENDED)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    # On the ended page Enter presses the focused button too: Close closes the window.
    window.ended_page.close_button.setFocus()
    with qtbot.waitSignal(window.ended_page.close_button.clicked):
        qtbot.keyClick(window.ended_page.close_button, Qt.Key.Key_Enter)


def test_note_is_saved_with_the_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    edit = window.session_page.note_edit
    edit.setFocus()
    qtbot.keyClicks(edit, "EELS maps, sample 7b")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.session_page.note_status.text() == "Note saved.")
    assert lifecycle.get_note(ident, engine=sqlite_db) == "EELS maps, sample 7b"


def _open_session_of(user: str, database: str, *, heartbeat: bool) -> lifecycle.OpenSession:
    started = lifecycle.start_session(
        instrument=PID,
        user=user,
        at=timestamps.now_in("America/New_York") - timedelta(hours=3),
        engine=database,
    ).session
    if heartbeat:
        lifecycle.record_heartbeat(started.session_identifier, engine=database)
    found = lifecycle.find_open_session(PID, engine=database)
    assert found is not None
    return found


def test_resume_continue_keeps_the_open_session(qtbot, make_window, sqlite_db):
    old = _open_session_of("alice", sqlite_db, heartbeat=True)
    window = make_window(sqlite_db, start=False)
    asked: list[lifecycle.OpenSession] = []

    def choose(session):
        asked.append(session)
        return ResumeChoice(ResumeAction.CONTINUE)

    window.ask_resume_choice = choose
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    assert [s.session_identifier for s in asked] == [old.session_identifier]
    assert asked[0].user == "alice" and asked[0].last_heartbeat is not None
    assert _running_identifier(window) == old.session_identifier
    assert window.session_page.user_label.text() == "User: alice"
    assert window.steps_page.state(Step.START) is StepState.DONE
    # Nothing new was written: still the one START.
    assert [r["event_type"] for r in session_rows(sqlite_db)] == ["START"]
    assert window.session_page.elapsed_label.text().startswith("3:0")


def test_resume_new_ends_the_old_session_at_its_last_heartbeat(qtbot, make_window, sqlite_db):
    old = _open_session_of("alice", sqlite_db, heartbeat=True)
    assert old.last_heartbeat is not None
    window = make_window(sqlite_db, start=False)
    window.ask_resume_choice = lambda session: ResumeChoice(
        ResumeAction.NEW, session.last_heartbeat
    )
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    new_ident = _running_identifier(window)
    assert new_ident != old.session_identifier

    old_rows = rows_of(sqlite_db, old.session_identifier)
    assert [(r["event_type"], r["record_status"], r["user"]) for r in old_rows] == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    ended = timestamps.parse(old_rows[1]["timestamp"])
    assert abs((ended - old.last_heartbeat).total_seconds()) < 1
    (new_start,) = rows_of(sqlite_db, new_ident)
    assert (new_start["record_status"], new_start["user"]) == (
        "WAITING_FOR_END",
        lifecycle.default_user(),
    )
    assert [s.session_identifier for s in get_sessions_to_build(engine=sqlite_db)] == [
        old.session_identifier
    ]


def test_close_and_end_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=0)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    window.ask_close_choice = lambda: CloseChoice.END
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert window.phase is Phase.ENDED
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]


def test_close_and_keep_open_leaves_the_session_for_the_next_launch(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    first = raw_query(sqlite_db, "SELECT last_alive FROM nexus_logger_heartbeat")
    window.ask_close_choice = lambda: CloseChoice.KEEP_OPEN
    window.close()
    assert not window.isVisible()
    assert window.paused
    assert window.end_for_shutdown() is False  # quitting now must not end it
    # A last heartbeat marks when it was left (the next launch may end it there), written
    # before the window is gone: a job still queued when the worker stops is not run.
    assert raw_query(sqlite_db, "SELECT last_alive FROM nexus_logger_heartbeat") != first
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "WAITING_FOR_END")
    ]
    # The next launch finds it and asks.
    again = make_window(sqlite_db, start=False)
    asked: list[str] = []
    again.ask_resume_choice = lambda s: (
        asked.append(s.session_identifier) or ResumeChoice(ResumeAction.CONTINUE)
    )
    again.start()
    wait_phase(qtbot, again, Phase.RUNNING)
    assert asked == [ident]


def test_a_quit_while_keep_open_waits_for_the_database_leaves_the_session_open(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """*Keep it open and close* on a slow database: the window says it is closing while the
    last heartbeat waits, and a quit meanwhile (a second click on the close button makes Qt
    quit, which runs the logoff handler) leaves the session open. (The session was ended, and
    the log said the OS session was ending.)"""
    window = make_window(sqlite_db, db_timeout_seconds=5)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    window.ask_close_choice = lambda: CloseChoice.KEEP_OPEN
    lock = sqlite_lock(sqlite_db).acquire()  # the heartbeat waits on it
    during: list[tuple[str, bool, bool]] = []

    def quit_meanwhile() -> None:
        page = window.session_page
        during.append((page.message_label.text(), page.end_button.isEnabled(), False))
        window.end_session()  # Ctrl+E: the End button is disabled, its shortcut is not
        during.append(("", False, window.end_for_shutdown(timeout_ms=2000)))  # as aboutToQuit
        lock.release()

    QTimer.singleShot(300, quit_meanwhile)
    window.close()
    assert not window.isVisible()
    assert during == [("Closing: the session stays open\u2026", False, False), ("", False, False)]
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "WAITING_FOR_END")
    ]


def test_close_and_cancel_keeps_the_window(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    asked: list[bool] = []
    window.ask_close_choice = lambda: asked.append(True) or CloseChoice.CANCEL
    window.close()
    assert asked == [True]
    assert window.isVisible() and window.phase is Phase.RUNNING
    assert window.session_page.end_button.isEnabled()


def test_closing_before_a_session_runs_does_not_ask(qtbot, make_window, tmp_path):
    window = make_window(str(tmp_path / "missing.sqlite"))
    wait_phase(qtbot, window, Phase.FAILED)
    window.close()  # ask_close_choice would fail the test
    assert not window.isVisible()


def test_os_logoff_ends_the_running_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    assert window.end_for_shutdown(timeout_ms=10_000) is True
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    window.close()  # after logoff the window closes without asking
    assert not window.isVisible()


def test_a_failed_step_shows_a_sentence_retry_and_log(qtbot, make_window, sqlite_db, log_to_file):
    window = make_window(sqlite_db, start=False, instrument="NO-SUCH-INSTRUMENT")
    window.start()
    wait_phase(qtbot, window, Phase.FAILED)
    page = window.steps_page
    assert page.state(Step.CONNECT) is StepState.DONE
    assert page.state(Step.IDENTIFY) is StepState.FAILED
    assert page.error_box.isVisible() and page.retry_button.isVisible()
    # One "Show log" (and one Alt+L): the failure box's, not also the footer's.
    assert page.log_button.isVisible() and not window.log_button.isVisible()
    message = page.error_label.text()
    assert "NO-SUCH-INSTRUMENT" in message and "Traceback" not in message
    # For the person at the instrument: one sentence, no command line, whom to tell.
    assert "nexus-logger" not in message and "--" not in message
    assert "facility staff" in page.contact_label.text()
    assert not page.details_box.isVisible()
    # The doctor's checks run and the one that explains the failure is behind Details.
    qtbot.mouseClick(page.details_button, Qt.MouseButton.LeftButton)
    assert page.details_box.isVisible()
    assert page.detail_label.text().startswith(message)  # the full message, for staff
    qtbot.waitUntil(page.diagnosis_label.isVisible)
    diagnosis = page.diagnosis_label.text()
    assert diagnosis.startswith("Pre-flight check") and "What to do:" in diagnosis
    assert "'instrument'" in diagnosis.split("What to do:")[1]  # the setting to fix
    assert message not in diagnosis  # the step's own sentence is not repeated
    # Shown whole, the page scrolled to it: not in a box scrolling inside the scrolling page.
    whole = page.diagnosis_label.rect()
    qtbot.waitUntil(lambda: page.diagnosis_label.visibleRegion().boundingRect() == whole)
    assert page.detail_label.visibleRegion().boundingRect() == page.detail_label.rect()
    qtbot.mouseClick(page.log_button, Qt.MouseButton.LeftButton)
    assert window._log_window is not None and window._log_window.isVisible()
    assert "NO-SUCH-INSTRUMENT" in window._log_window.text()  # the failure is in the log
    # Fix the cause, then Retry: the steps run again and the session starts.
    window._settings_loader = lambda: gui_settings(sqlite_db)
    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert not page.error_box.isVisible() and window.log_button.isVisible()


def test_a_bad_config_file_is_a_failed_step_not_a_crash(qtbot, make_window, sqlite_db, tmp_path):
    window = make_window(sqlite_db, start=False)
    bad = tmp_path / "config.toml"
    bad.write_text("database = [unclosed\n")
    window._settings_loader = lambda: load_settings(bad)
    window.start()
    assert window.phase is Phase.FAILED
    assert "not valid TOML" in window.steps_page.error_label.text()
    # The footer no longer says it is checking the database: nothing is.
    assert window.sync_indicator.plain_text().startswith("Not logging: the start-up stopped")


def test_the_footer_promises_no_sending_for_events_held_by_a_conflict(qtbot):
    from nexus_logger.gui.pages import SyncIndicator

    footer = SyncIndicator()
    qtbot.addWidget(footer)
    footer.database_words = "database"
    footer.set_state(True, 1)
    assert footer.plain_text() == "1 event waiting on this PC, sent automatically"
    footer.set_state(True, 1, 1)
    assert "sent automatically" not in footer.plain_text()
    assert footer.plain_text().startswith("1 event kept on this PC. Staff attention needed")


def test_session_ended_by_staff_is_noticed_at_the_next_heartbeat(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    # Ended elsewhere at a time other than now (3 minutes ahead, within the clock-skew rule):
    # the page gives that END's time and duration, not the moment the heartbeat noticed.
    ended = lifecycle.end_session(
        session_identifier=ident,
        at=window.session.started + timedelta(minutes=3, seconds=20),
        engine=sqlite_db,
    )
    window.send_heartbeat()
    wait_phase(qtbot, window, Phase.ENDED)
    page = window.ended_page
    assert "ended elsewhere" in page.message_label.text()
    assert page.countdown_label.text() == ""  # stays open to say so
    # Enter there must not start a session (whose question's default, for another login's
    # open session, ends that one): the focus is on Close.
    qtbot.waitUntil(lambda: page.close_button.hasFocus())
    assert not page.new_button.hasFocus()
    assert page.duration_label.text() == "Duration: 3 min 20 s"
    end_time = ended.ended.strftime("%H:%M")
    assert page.times_label.text().split(" to ")[1].startswith(end_time)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]


def test_a_window_brought_to_the_front_asks_the_database_again(qtbot, make_window, sqlite_db):
    """A session ended elsewhere is shown as ended when the user turns to the window, not a
    heartbeat (up to a minute) later; a window looked at again within seconds asks nothing."""
    window = make_window(sqlite_db)  # heartbeat every 60 s: far off in this test
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    lifecycle.end_session(session_identifier=ident, engine=sqlite_db)  # another PC, or staff
    other = QWidget()
    qtbot.addWidget(other)

    def look_away_and_back() -> None:
        other.show()
        other.activateWindow()
        qtbot.waitUntil(other.isActiveWindow)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.waitUntil(lambda: window.worker.pending == 0)

    look_away_and_back()  # the launch's heartbeat was moments ago: not asked again
    assert window.phase is Phase.RUNNING
    window._last_heartbeat -= running.LOOKED_AT_RECHECK_SECONDS  # as if 10 s went by
    look_away_and_back()
    wait_phase(qtbot, window, Phase.ENDED)
    assert "ended elsewhere" in window.ended_page.message_label.text()


def test_a_force_end_from_this_windows_admin_tab_is_seen_at_once(qtbot, make_window, sqlite_db):
    """The Admin tab's action tells the window, which asks the database now rather than at
    its next heartbeat (the heartbeat timer is far off here)."""
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    window._create_admin_tab()
    assert window._admin_tab is not None
    lifecycle.end_session(session_identifier=ident, engine=sqlite_db)  # as the action does
    window._admin_tab.session_changed.emit("another-session")  # not this window's: nothing
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.phase is Phase.RUNNING
    window._admin_tab.session_changed.emit(ident)
    wait_phase(qtbot, window, Phase.ENDED)
    assert "ended elsewhere" in window.ended_page.message_label.text()


def test_an_end_written_elsewhere_with_an_unreadable_time_shows_no_time(
    qtbot, make_window, sqlite_db
):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    with sqlite3.connect(sqlite_db) as conn:  # another program's END, its time unreadable
        conn.execute(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, user) VALUES (?, ?, 'around noon', 'END', 'TO_BE_BUILT', 'x')",
            (ident, PID),
        )
    window.send_heartbeat()
    wait_phase(qtbot, window, Phase.ENDED)
    page = window.ended_page
    assert "ended elsewhere" in page.message_label.text()
    # No time rather than the moment the window noticed: that would not be when it ended.
    assert (page.duration_label.text(), page.times_label.text()) == ("", "")


def test_the_heartbeat_timer_records_the_session_alive_on_its_own(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, heartbeat_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)

    def beats() -> list[str]:
        sql = "SELECT last_alive FROM nexus_logger_heartbeat WHERE session_identifier = ?"
        try:
            return [r[0] for r in raw_query(sqlite_db, sql, (ident,))]
        except sqlite3.OperationalError:  # the table is made by the first heartbeat
            return []

    # Nothing calls send_heartbeat here: only the window's timer does.
    qtbot.waitUntil(lambda: len(beats()) == 1, timeout=5000)
    first = beats()[0]
    qtbot.waitUntil(lambda: beats() != [first], timeout=5000)
    assert beats()[0] > first  # the same row, moved on (same zone, so text order is time order)
    assert lifecycle.last_heartbeat(ident, engine=sqlite_db) is not None

    qtbot.mouseClick(window.session_page.end_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.ENDED)
    assert not window._heartbeat_timer.isActive()  # an ended session sends no more heartbeats


@pytest.mark.parametrize("for_everyone", [False, True])
def test_admin_tab_is_hidden_from_non_administrators_by_default(
    qtbot, make_window, sqlite_db, for_everyone
):
    window = make_window(
        sqlite_db, administrators=["someone-else"], admin_tab_for_everyone=for_everyone
    )
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window.tabs.isTabVisible(1) is for_everyone


def test_admin_tab_is_built_when_first_opened(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, administrators=[os_login()])
    assert window.tabs.isTabVisible(1)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window._admin_tab is None
    window.tabs.setCurrentIndex(1)
    assert window._admin_tab is not None
    assert window.tabs.tabText(1) == "Admin"
    assert window.tabs.currentWidget() is window._admin_tab


def test_all_statuses_written_are_nexuslims_ones(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    statuses = {r["record_status"] for r in session_rows(sqlite_db)}
    assert statuses <= {s.value for s in RecordStatus}


def test_start_and_end_on_sqlite_and_postgresql(qtbot, make_window, db):
    window = make_window(db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    found = lifecycle.find_open_session(PID, engine=db)
    assert found is not None and found.session_identifier == ident
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    assert window.end_outcome is not None and not window.end_outcome.queued
    built = get_sessions_to_build(engine=db)
    assert [(s.session_identifier, s.user) for s in built] == [(ident, lifecycle.default_user())]


def test_the_failure_page_names_the_facility_contact(qtbot, make_window, sqlite_db):
    window = make_window(
        sqlite_db,
        start=False,
        instrument="NO-SUCH-INSTRUMENT",
        facility_contact="Jane Smith, +1 301 975 2000",
    )
    window.start()
    wait_phase(qtbot, window, Phase.FAILED)
    assert "Jane Smith, +1 301 975 2000" in window.steps_page.contact_label.text()
    assert window.steps_page.contact_label.isVisible()


def test_ctrl_e_in_the_note_field_ends_the_session_with_the_note(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    window.activateWindow()
    note = window.session_page.note_edit
    note.setFocus()
    qtbot.keyClicks(note, "EELS of 7b")
    # On X11 a line edit claims Ctrl+E (end of line) before any shortcut sees it, and gets
    # the key press itself: sent straight to the field, as it then is, it must still end.
    ctrl = Qt.KeyboardModifier.ControlModifier
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_E, ctrl)
    QApplication.sendEvent(note, override)
    assert override.isAccepted()  # claimed for the note field, so no shortcut fires twice
    QApplication.sendEvent(note, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_E, ctrl))
    wait_phase(qtbot, window, Phase.ENDED)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    assert window.session is not None and window.session.note == "EELS of 7b"


def test_end_with_a_note_the_database_would_refuse_ends_with_the_note_saved_last(
    qtbot, make_window, sqlite_db
):
    """The note goes with the END, and the END must go (at logoff too): a note the database
    would refuse (a control character, more than MAX_NOTE characters) leaves the note saved
    last on the session, said on the ended page. (The END was refused, or kept and held as a
    'conflict' while the window said "Session ended".)"""
    for refused, why in (("bell \x07", "control characters"), ("x" * 2001, "2001 characters")):
        window = make_window(sqlite_db, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.RUNNING)
        ident = _running_identifier(window)
        window.save_note("grid 4")
        qtbot.waitUntil(lambda w=window: w.session_page.note_status.text() == "Note saved.")
        window.session_page.note_edit.setText(refused)
        window.end_session(ask_about_files=False)
        wait_phase(qtbot, window, Phase.ENDED)
        message = window.ended_page.message_label.text()
        assert "The note typed last was not saved" in message and why in message
        assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
        assert lifecycle.get_note(ident, engine=sqlite_db) == "grid 4"
        window.close()


def test_a_note_of_wide_characters_is_shown_whole_and_kept_whole_by_the_end(
    qtbot, make_window, sqlite_db
):
    """A note as long as the database keeps, with emoji (two UTF-16 units each, which is
    what Qt counts), set from the command line: the window shows it whole and the END leaves
    it whole. (The field's limit of MAX_NOTE units cut it, and the END wrote it cut.)"""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    stored = ("EELS map \U0001f52c of grid 7 \u2713\n" * 100)[: lifecycle.MAX_NOTE - 4] + " end"
    assert len(stored) == lifecycle.MAX_NOTE
    qtbot.waitUntil(lambda: window.worker.pending == 0)  # no heartbeat already on its way
    lifecycle.set_note(ident, stored, engine=sqlite_db)  # as `nexus-logger session note` does
    window.send_heartbeat()
    qtbot.waitUntil(lambda: window.session_page.note_edit.text() == stored)
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    assert lifecycle.get_note(ident, engine=sqlite_db) == stored


def test_a_note_changed_elsewhere_is_shown_and_never_overwritten_unseen(
    qtbot, make_window, sqlite_db
):
    """Another window on this session (a login continuing it) or the command line changed
    the note: with nothing typed here the next heartbeat shows the stored note; text typed
    here is not saved over it unseen (the window says what is stored; Enter again replaces
    it); End leaves a note changed elsewhere as it is. (Each window overwrote the other's
    note and went on showing its own as saved.)"""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    page = window.session_page
    page.note_edit.setFocus()
    qtbot.keyClicks(page.note_edit, "grid 4")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.note_status.text() == "Note saved.")

    lifecycle.set_note(ident, "grid 4, tilt series", engine=sqlite_db)  # the other window
    window.send_heartbeat()
    qtbot.waitUntil(lambda: page.note_edit.text() == "grid 4, tilt series")
    assert "changed elsewhere" in page.note_status.text()

    lifecycle.set_note(ident, "EELS maps", engine=sqlite_db)
    page.note_edit.clear()
    qtbot.keyClicks(page.note_edit, "my words")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "someone else changed the note" in page.note_status.text())
    assert "\u201cEELS maps\u201d" in page.note_status.text()
    assert lifecycle.get_note(ident, engine=sqlite_db) == "EELS maps"
    assert page.note_edit.text() == "my words"  # what was typed here is kept
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Return)  # again: replace it
    qtbot.waitUntil(lambda: page.note_status.text() == "Note saved.")
    assert lifecycle.get_note(ident, engine=sqlite_db) == "my words"

    lifecycle.set_note(ident, "final words, from the other window", engine=sqlite_db)
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
    assert lifecycle.get_note(ident, engine=sqlite_db) == "final words, from the other window"


def test_keys_typed_at_the_window_never_end_or_start_a_session(qtbot, make_window, sqlite_db):
    """Focus starts in the note field (a space typed at the window ended the session when it
    started on End), and after "Keep the window open" on Close, not "Start a new session"."""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClicks(QApplication.focusWidget(), "TEM alignment")
    assert window.phase is Phase.RUNNING
    assert window.session_page.note_edit.text() == "TEM alignment"
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    window.ended_page.keep_open_button.click()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)  # on Close: closes
    assert window.phase is Phase.ENDED
    assert len(session_rows(sqlite_db)) == 2  # one START, one END: nothing started


def test_escape_never_ends_a_session(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    for widget in (window.session_page.note_edit, window.session_page.end_button, window):
        qtbot.keyClick(widget, Qt.Key.Key_Escape)
    qtbot.wait(200)
    assert window.phase is Phase.RUNNING
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START"]


def test_note_saved_goes_when_the_note_changes_again(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    page = window.session_page
    page.note_edit.setFocus()
    qtbot.keyClicks(page.note_edit, "first")
    qtbot.keyClick(page.note_edit, Qt.Key.Key_Return)  # Enter saves
    qtbot.waitUntil(lambda: page.note_status.text() == "Note saved.")
    qtbot.keyClicks(page.note_edit, " and more")
    assert page.note_status.text() == ""


@contextlib.contextmanager
def _server_frozen(database: str) -> Iterator[None]:
    """The server processes of this test's window stop answering (SIGSTOP), without closing
    anything, as a paused machine or a cut network leave them; they go on afterwards."""
    backends = [
        pid
        for (pid,) in raw_query(
            database,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'nexus-logger' "
            "AND datname = current_database()",
        )
    ]
    assert backends, "the window keeps no connection to the server"
    for pid in backends:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in backends:
            os.kill(pid, signal.SIGCONT)


@pytest.mark.postgres
@pytest.mark.skipif(os.name == "nt", reason="freezes a server process with SIGSTOP")
def test_end_is_kept_on_this_pc_at_once_while_the_server_hangs(qtbot, make_window, pg_db):
    """A server that stops answering without closing anything (a paused machine, a cut
    network): the worker's heartbeat waits on it. The END clicked meanwhile was queued behind
    that heartbeat and never reached the outbox, so a logoff lost it. Now it is kept at once,
    and sent once the server answers again, at the time of the click."""
    window = make_window(pg_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = _running_identifier(window)
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=15_000)
    logger = window.connected.logger
    with _server_frozen(pg_db):
        window.send_heartbeat()  # waits on a frozen connection, holding the worker
        clicked = timestamps.now_in("UTC")
        window.end_session(ask_about_files=False)
        qtbot.waitUntil(
            lambda: [e.kind.value for e in logger.pending_events()] == ["END"], timeout=10_000
        )
        assert window.phase is Phase.ENDING and window.worker.pending  # the server hangs still
    wait_phase(qtbot, window, Phase.ENDED, timeout=60_000)
    ((end_text,),) = raw_query(
        pg_db,
        "SELECT timestamp FROM session_log WHERE session_identifier = ? AND event_type = 'END'",
        (ident,),
    )
    assert abs((timestamps.parse(end_text) - clicked).total_seconds()) < 2
    assert logger.pending_count() == 0


@pytest.mark.postgres
@pytest.mark.skipif(os.name == "nt", reason="freezes a server process with SIGSTOP")
def test_while_the_end_waits_on_the_database_the_clock_stops_and_the_end_is_said_kept(
    qtbot, make_window, pg_db
):
    """The END waited behind a heartbeat stuck on the database: the page said "Ending the
    session..." all the while and the elapsed clock ran on past the click (user trial, a
    locked file); with a paused server it stayed so for minutes (PostgreSQL fault trial). The
    clock stops at the click; after the timeout the session is shown ended, its END saved on
    this PC; once the server answers, the page says what it answered."""
    window = make_window(pg_db, auto_close_seconds=60, db_timeout_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=15_000)
    page = window.session_page
    with _server_frozen(pg_db):
        window.send_heartbeat()
        window.end_session(ask_about_files=False)
        assert window.phase is Phase.ENDING
        shown = page.elapsed_label.text()
        wait_phase(qtbot, window, Phase.ENDED, timeout=15_000)
        assert page.elapsed_label.text() == shown  # stopped at the click
        said = window.ended_page.message_label.text()
        assert "has not answered yet" in said and "saved on this PC" in said
        assert window.worker.pending > 0  # the END's own job still waits on the server
    qtbot.waitUntil(
        lambda: "NexusLIMS will build" in window.ended_page.message_label.text(), timeout=60_000
    )


@pytest.mark.postgres
@pytest.mark.skipif(os.name == "nt", reason="freezes a server process with SIGSTOP")
def test_the_status_line_stops_saying_online_when_the_server_stops_answering(
    qtbot, make_window, pg_db
):
    """While a heartbeat waited on a server that answered nothing, the status line kept
    "Online: everything is saved" from the last answer (over 90 s in the outage trial)."""
    window = make_window(pg_db, auto_close_seconds=60, db_timeout_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=15_000)
    assert window.sync_indicator.online is True
    with _server_frozen(pg_db):
        window.send_heartbeat()
        assert window.sync_indicator.online is True  # nothing known yet

        def said() -> None:
            window.refresh_sync_state()  # what the status line's timer does
            assert window.sync_indicator.online is False

        qtbot.waitUntil(said, timeout=15_000)  # the timeout (1 s) and its margin (5 s)
        assert window.sync_indicator.plain_text().startswith("Database not reachable")
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=30_000)
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.online is True, timeout=15_000)


def test_a_long_job_of_the_admin_tab_is_not_taken_for_a_database_that_stopped_answering(
    qtbot, make_window, sqlite_db
):
    """Only the window's own jobs (each bounded by the database timeout) count: a long list
    of the Admin tab, answered all along, on the same worker, said "not reachable"."""
    import time as _time

    window = make_window(sqlite_db, auto_close_seconds=60, db_timeout_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    qtbot.waitUntil(lambda: window.sync_indicator.online is True)
    window.worker.submit(_time.sleep, 7)  # a long Admin job (its queries are answered)
    window.send_heartbeat()  # queued behind it
    qtbot.waitUntil(
        lambda: (r := window.worker.running()) is not None and r[1] > 6.2, timeout=10_000
    )
    window.refresh_sync_state()
    assert window.sync_indicator.online is True
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=15_000)


def test_a_late_answer_to_an_end_never_ends_the_page_of_a_new_session(
    qtbot, make_window, sqlite_db
):
    """The END's answer came after the timeout had shown the session ended (kept on this
    PC): it turned the window back to the old session's ended page and restarted its
    countdown, which closed the window with the new session the person had started running,
    and undid "keep the window open". Now it only replaces the old page's sentence, while that
    page is still up."""
    import threading

    window = make_window(sqlite_db, auto_close_seconds=3, db_timeout_seconds=1)
    wait_phase(qtbot, window, Phase.RUNNING)
    first = window.session.session_identifier
    logger = window.connected.logger
    answer = threading.Event()
    real_end = logger.end

    def slow_end(*args, **kwargs):  # a database that answers the END late
        answer.wait(60)
        return real_end(*args, **kwargs)

    logger.end = slow_end
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED, timeout=15_000)
    assert "has not answered yet" in window.ended_page.message_label.text()
    window.keep_window_open()
    window.ended_page.new_session_requested.emit()
    answer.set()
    wait_phase(qtbot, window, Phase.RUNNING, timeout=15_000)
    assert window.session.session_identifier != first
    qtbot.waitUntil(lambda: window.worker.pending == 0, timeout=15_000)
    assert window.phase is Phase.RUNNING and window.isVisible()
    assert not window._countdown.isActive()  # nothing will close the window
    assert [r["event_type"] for r in rows_of(sqlite_db, first)] == ["START", "END"]
