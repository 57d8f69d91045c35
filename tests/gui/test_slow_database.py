"""A database that takes seconds to answer never freezes the window.

Another connection holds the SQLite file's exclusive lock (as a backup tool or a stuck
program on another PC would), with the app's timeout longer than the hold, so the app waits
for the database exactly as it would for one that takes 10 s. While it waits, a timer on the
GUI thread must keep ticking, the window must react to clicks, and the buttons must say what
is possible. The test never sleeps: it waits on states, then releases the lock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from PySide6.QtCore import Qt

from nexus_logger.gui.main_window import Phase
from nexus_logger.gui.pages import Step, StepState
from tests.gui.helpers_gui import PID, Ticker, rows_of, wait_phase

#: The app waits this long for the lock: far longer than the test holds it.
PATIENT = 60


def _event_loop_keeps_running(qtbot, ticker: Ticker, seconds: float = 0.6) -> None:
    since = time.monotonic()
    qtbot.waitUntil(lambda: time.monotonic() - since >= seconds, timeout=int(seconds * 1000) + 5000)
    ticks = ticker.count_since(since)
    assert ticks >= seconds / 0.02 * 0.5, f"only {ticks} timer ticks in {seconds} s"
    assert ticker.max_gap(since) < 0.25, "the GUI thread was blocked"


def test_start_on_a_locked_database_keeps_the_window_responsive(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    lock = sqlite_lock(sqlite_db).acquire()
    ticker = Ticker(20)
    launched = datetime.now(UTC)
    window = make_window(sqlite_db, db_timeout_seconds=PATIENT)
    try:
        assert window.phase is Phase.STARTING
        _event_loop_keeps_running(qtbot, ticker, seconds=2.0)  # (a wait NexusLIMS would feel)
        # Still waiting on the first step, and saying so; nothing to retry, nothing to end.
        assert window.phase is Phase.STARTING
        assert window.steps_page.state(Step.CONNECT) is StepState.ACTIVE
        assert window.steps_page.labels[Step.CONNECT].text() == "Connecting to the database\u2026"
        assert not window.steps_page.error_box.isVisible()
        assert not window.session_page.end_button.isVisible()
        assert window.worker.pending >= 1
        # The window reacts to input meanwhile.
        qtbot.mouseClick(window.log_button, Qt.MouseButton.LeftButton)
        assert window._log_window is not None and window._log_window.isVisible()
        window._log_window.close()
    finally:
        lock.release()
        released = datetime.now(UTC)
        ticker.stop()
    wait_phase(qtbot, window, Phase.RUNNING, timeout=20_000)
    assert window.session_page.end_button.isEnabled()
    # The session began at the launch, not when the lock let go: NexusLIMS would not have
    # taken the files of the seconds the window waited.
    assert (released - launched).total_seconds() >= 2.0
    assert abs((window.session.started - launched).total_seconds()) < 0.3


def test_end_on_a_locked_database_keeps_the_window_responsive(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    window = make_window(sqlite_db, db_timeout_seconds=PATIENT, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.session is not None
    ident = window.session.session_identifier
    lock = sqlite_lock(sqlite_db).acquire()
    ticker = Ticker(20)
    try:
        qtbot.mouseClick(window.session_page.end_button, Qt.MouseButton.LeftButton)
        assert window.phase is Phase.ENDING
        elapsed_before = window.session_page.elapsed_label.text()
        _event_loop_keeps_running(qtbot, ticker)
        assert window.phase is Phase.ENDING
        button = window.session_page.end_button
        assert not button.isEnabled() and button.text() == "Ending the session\u2026"
        assert not window.end_shortcut.isEnabled()
        # The clock stops at the click while the END waits for the database (it ran on past
        # it: the session had ended at the click).
        qtbot.wait(1100)
        assert window.session_page.elapsed_label.text() == elapsed_before
        # Closing now is refused (the END is on its way), without asking anything.
        window.close()
        assert window.isVisible()
        assert "being ended" in window.session_page.message_label.text()
        # Nothing was written yet (read through the lock holder's own connection).
        assert [r["event_type"] for r in rows_of(sqlite_db, ident, lock.conn)] == ["START"]
    finally:
        lock.release()
        ticker.stop()
    wait_phase(qtbot, window, Phase.ENDED, timeout=20_000)
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    assert window.end_outcome is not None and not window.end_outcome.queued


def test_a_lock_held_past_the_timeout_keeps_the_end_on_this_pc(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    window = make_window(sqlite_db, db_timeout_seconds=0.5, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.session is not None
    ident = window.session.session_identifier
    lock = sqlite_lock(sqlite_db).acquire()
    try:
        window.end_session()
        wait_phase(qtbot, window, Phase.ENDED)
        assert window.end_outcome is not None and window.end_outcome.queued
        assert "saved on this PC" in window.ended_page.message_label.text()
        qtbot.waitUntil(lambda: window.sync_indicator.pending == 1)
    finally:
        lock.release()
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.pending == 0 and window.sync_indicator.online)
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]


def test_a_start_kept_on_this_pc_counts_as_soon_as_it_is_shown(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """The database does not answer within its timeout: the window shows the START kept on
    this PC, and the outbox records at once that the user was told. It waited behind the
    running page's heartbeat and sync jobs (one timeout each); killed meanwhile, the window
    left a START the next login was never asked about."""
    from nexus_logger.core.offline.durable import DurableLogger

    DurableLogger(sqlite_db).identify(instrument=PID)  # this PC reached the database before
    lock = sqlite_lock(sqlite_db).acquire()
    try:
        window = make_window(sqlite_db, db_timeout_seconds=4, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.RUNNING, timeout=30_000)
        assert window.session_queued
        assert "saved on this PC" in window.session_page.message_label.text()
        shown = time.monotonic()
        qtbot.waitUntil(lambda: window.connected.logger.pending_events()[0].confirmed)
        assert time.monotonic() - shown < 2, "confirmed only after another database timeout"
    finally:
        lock.release()


def _closed_while_starting(make_window, sqlite_db, sqlite_lock, answer):
    """A window closed while its START waits on a locked database (the lock is then
    released); the phases in which it asked its close question, each answered ``answer``."""
    lock = sqlite_lock(sqlite_db).acquire()
    window = make_window(sqlite_db, db_timeout_seconds=PATIENT, auto_close_seconds=60)
    asked: list[str] = []

    def ask():
        asked.append(window.phase.value)
        return answer

    window.ask_close_choice = ask  # type: ignore[method-assign]
    try:
        assert window.phase is Phase.STARTING
        window.close()
        assert window.isVisible() and window.phase is Phase.STARTING
        assert "Closing once the database has answered" in window.steps_page.title.text()
    finally:
        lock.release()
    return window, asked


def test_closing_while_starting_waits_for_the_start_then_asks(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """The close button while "Starting your session" closed the window at once, and the
    START on its way still committed: an open session nobody was shown or would end. The
    window now closes once the steps have answered, asking about the session that started."""
    from nexus_logger.gui.dialogs import CloseChoice

    window, asked = _closed_while_starting(make_window, sqlite_db, sqlite_lock, CloseChoice.END)
    qtbot.waitUntil(lambda: asked == ["running"], timeout=20_000)
    wait_phase(qtbot, window, Phase.ENDED)
    ident = window.end_outcome.session_identifier
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]


def test_a_stop_signal_after_a_close_put_off_while_starting_asks_nothing(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """Closed while starting (the close waits for the steps), then stopped (logoff, SIGTERM):
    the put-off close ran inside the stop's wait and asked its modal question, which nobody
    answers at logoff. The stop ends the session and asks nothing."""
    from nexus_logger.gui.dialogs import CloseChoice

    window, asked = _closed_while_starting(make_window, sqlite_db, sqlite_lock, CloseChoice.CANCEL)
    window.quit_for_signal("SIGTERM")
    assert asked == []
    wait_phase(qtbot, window, Phase.ENDED)
    ident = window.end_outcome.session_identifier
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
