"""The resume and close dialogs, driven by their buttons and keys (never ``exec()``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt

from nexus_logger.core.db.models import Instrument
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.gui.dialogs import (
    CloseChoice,
    CloseDialog,
    ResumeAction,
    ResumeDialog,
)

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 10, 15, 30, tzinfo=TZ)


def _session(*, heartbeat: bool) -> OpenSession:
    inst = Instrument(instrument_pid="TEST-TEM-001", display_name="Test TEM", timezone=str(TZ))
    started = NOW - timedelta(hours=6, minutes=15)
    return OpenSession(
        session_identifier="0b7c5a52-2f0e-4a4a-9a36-0f3a8e1c7d11",
        instrument=inst,
        user="alice",
        started=started,
        start_text=started.isoformat(),
        last_heartbeat=NOW - timedelta(hours=4, minutes=2) if heartbeat else None,
    )


@pytest.fixture
def resume_dialog(qtbot):
    def make(*, heartbeat: bool) -> ResumeDialog:
        dialog = ResumeDialog(_session(heartbeat=heartbeat), now=NOW)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def test_resume_dialog_says_who_when_and_last_heartbeat(resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    assert dialog.started_label.text().startswith("Started by alice at 09:15 ")
    assert "(6 h 15 min ago)" in dialog.started_label.text()
    assert dialog.heartbeat_label.text().startswith("Last heartbeat: 11:28 ")
    assert "(4 h 2 min ago)" in dialog.heartbeat_label.text()
    assert dialog.at_heartbeat.isEnabled() and dialog.at_heartbeat.isChecked()
    # With the length that end gives the session (a heartbeat at the start gives none).
    assert dialog.at_heartbeat.text() == "its last heartbeat (11:28; 2 h 13 min long)"
    assert dialog.choice() is None


def test_a_heartbeat_at_the_start_only_is_not_offered_first_as_the_end(qtbot) -> None:
    """The program died in its first minute: its only heartbeat is its start, and ending
    there by default made a session of no time (user trial, kill -9 then relaunch)."""
    from dataclasses import replace

    session = _session(heartbeat=False)
    dialog = ResumeDialog(replace(session, last_heartbeat=session.started), now=NOW)
    qtbot.addWidget(dialog)
    assert dialog.at_heartbeat.isEnabled() and not dialog.at_heartbeat.isChecked()
    assert dialog.at_heartbeat.text().endswith("; 0 s long)")
    assert dialog.at_now.isChecked()


def test_enter_presses_the_focused_button_and_nothing_else(qtbot, resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    qtbot.keyClick(dialog.continue_button, Qt.Key.Key_Return)
    assert not dialog.isVisible() and dialog.choice().action is ResumeAction.CONTINUE
    dialog = resume_dialog(heartbeat=True)
    dialog.at_now.setFocus()
    qtbot.keyClick(dialog.at_now, Qt.Key.Key_Return)  # on an end-time choice: nothing
    assert dialog.choice() is None and dialog.isVisible()
    dialog = resume_dialog(heartbeat=True)
    dialog.new_button.setFocus()
    qtbot.keyClick(dialog.new_button, Qt.Key.Key_Return)
    assert dialog.choice().action is ResumeAction.NEW


def test_escape_or_closing_the_resume_dialog_continues_and_ends_nothing(qtbot, resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and dialog.choice().action is ResumeAction.CONTINUE
    dialog = resume_dialog(heartbeat=True)
    dialog.close()  # the title bar's button, where the window manager shows one anyway
    assert not dialog.isVisible() and dialog.choice().action is ResumeAction.CONTINUE
    assert not dialog.windowFlags() & Qt.WindowType.WindowCloseButtonHint


def test_resume_dialog_continue(qtbot, resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    qtbot.mouseClick(dialog.continue_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    choice = dialog.choice()
    assert choice is not None and choice.action is ResumeAction.CONTINUE and choice.end_at is None


def test_resume_dialog_new_ending_at_the_last_heartbeat(qtbot, resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    qtbot.mouseClick(dialog.new_button, Qt.MouseButton.LeftButton)
    choice = dialog.choice()
    assert choice is not None and choice.action is ResumeAction.NEW
    assert choice.end_at == NOW - timedelta(hours=4, minutes=2)


def test_resume_dialog_new_ending_now(qtbot, resume_dialog):
    dialog = resume_dialog(heartbeat=True)
    qtbot.mouseClick(dialog.at_now, Qt.MouseButton.LeftButton)
    assert dialog.at_now.isChecked()
    before = datetime.now(TZ)
    qtbot.mouseClick(dialog.new_button, Qt.MouseButton.LeftButton)
    choice = dialog.choice()
    assert choice is not None and choice.action is ResumeAction.NEW
    assert choice.end_at is not None and before <= choice.end_at <= datetime.now(TZ)


def test_resume_dialog_without_heartbeat_offers_only_now(resume_dialog):
    dialog = resume_dialog(heartbeat=False)
    assert dialog.heartbeat_label.text() == "Last heartbeat: none recorded."
    assert not dialog.at_heartbeat.isEnabled()
    assert dialog.at_now.isChecked()


@pytest.fixture
def close_dialog(qtbot):
    dialog = CloseDialog("Test TEM")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        ("end_button", CloseChoice.END),
        ("keep_button", CloseChoice.KEEP_OPEN),
        ("cancel_button", CloseChoice.CANCEL),
    ],
)
def test_close_dialog_buttons(qtbot, close_dialog, button, expected):
    qtbot.mouseClick(getattr(close_dialog, button), Qt.MouseButton.LeftButton)
    assert not close_dialog.isVisible()
    assert close_dialog.choice() is expected


def test_close_dialog_escape_is_cancel(qtbot, close_dialog):
    qtbot.keyClick(close_dialog, Qt.Key.Key_Escape)
    assert not close_dialog.isVisible()
    assert close_dialog.choice() is CloseChoice.CANCEL


def test_the_resume_dialog_keeps_its_times_true_and_tabs_to_the_end_time_first(qtbot):
    """Left unanswered, "(just now)" stayed on the screen; Tab passed "End it and start a new
    one" before reaching the choice of when the old session ends."""
    session = _session(heartbeat=True)
    dialog = ResumeDialog(session)  # the real clock, as in the window
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog._clock.isActive()  # its times are said again every 15 s
    dialog._say_when(NOW + timedelta(hours=1))
    assert "(7 h 15 min ago)" in dialog.started_label.text()
    assert "(5 h 2 min ago)" in dialog.heartbeat_label.text()
    order = [dialog.continue_button]
    while len(order) < 4:
        order.append(order[-1].nextInFocusChain())
    assert order[1:] == [dialog.at_heartbeat, dialog.at_now, dialog.new_button]
