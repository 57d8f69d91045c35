"""Another login's session is open at launch (issue 14, req 4): the window never goes on
under someone else's name unless the user chooses exactly that.

Two OS logins on one PC are simulated by two HOMEs (``NEXUS_LOGGER_HOME``) and the login name
``getpass`` reads (``USER``/``LOGNAME``); the database is one real SQLite file.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from nexus_logger.core import timestamps
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import OpenSession
from nexus_logger.core.sessions.local_heartbeat import update_local_file
from nexus_logger.core.staff import admin_actions
from nexus_logger.gui.dialogs import ResumeAction, ResumeChoice, ResumeDialog
from nexus_logger.gui.main_window import MainWindow, Phase
from nexus_logger.gui.owner_dialog import OtherUserDialog, same_user
from nexus_logger.gui.pages import Step, StepState
from tests.gui.helpers_gui import PID, rows_of, wait_phase

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 10, 15, 30, tzinfo=TZ)


def _session(*, heartbeat: bool, user: str = "root") -> OpenSession:
    inst = Instrument(instrument_pid="TEST-TEM-001", display_name="Test TEM", timezone=str(TZ))
    started = NOW - timedelta(hours=46, minutes=54)
    return OpenSession(
        session_identifier="0b7c5a52-2f0e-4a4a-9a36-0f3a8e1c7d11",
        instrument=inst,
        user=user,
        started=started,
        start_text=started.isoformat(),
        last_heartbeat=started + timedelta(hours=2, minutes=10) if heartbeat else None,
    )


@pytest.fixture
def owner_dialog(qtbot):
    def make(*, heartbeat: bool) -> OtherUserDialog:
        dialog = OtherUserDialog(_session(heartbeat=heartbeat), "bob", now=NOW)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def login_as(monkeypatch: pytest.MonkeyPatch, home: Path, name: str) -> None:
    """Be the OS login ``name`` with its own home folder (config, outbox, log)."""
    from nexus_logger.core.settings import identity

    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(home))
    for var in ("USER", "LOGNAME", "USERNAME", "LNAME"):
        monkeypatch.setenv(var, name)
    monkeypatch.setattr(identity, "os_login", lambda: name)  # the real account, as the OS says


def test_same_user_ignores_case_and_domain():
    assert same_user("Bob", "bob")
    assert same_user("LAB\\bob", "bob")
    assert not same_user("root", "bob")
    assert not same_user(None, "bob")


def test_the_dialog_says_whose_session_first_and_defaults_to_ending_it(owner_dialog):
    dialog = owner_dialog(heartbeat=True)
    first = dialog.content_layout.itemAt(0).widget()
    assert first is dialog.owner_label
    assert dialog.owner_label.text().startswith("This session was started by root at 16:36 ")
    assert dialog.owner_label.text().endswith(", 1 day 22 h ago."), dialog.owner_label.text()
    assert "bob" in dialog.you_label.text()
    assert dialog.new_button.isDefault() and dialog.focusWidget() is dialog.new_button
    assert not dialog.continue_button.isDefault()
    assert "under root's name" in dialog.continue_button.text().replace("&", "")
    assert dialog.at_heartbeat.isChecked()  # two days ago: not in use
    assert not dialog.alive_label.isVisible()
    dialog.new_button.click()
    choice = dialog.choice()
    assert choice == ResumeChoice(ResumeAction.NEW, dialog.session.last_heartbeat)


def test_a_session_in_use_moments_ago_is_ended_now_by_default_and_said_to_be_in_use(qtbot):
    """Its last heartbeat 40 s ago (at its start, say): ending it there would cut its last
    minutes, even to a session of no time. "now" is the default, and the dialog says that
    its owner may still be working."""
    session = replace(_session(heartbeat=True), last_heartbeat=NOW - timedelta(seconds=40))
    session = replace(session, hostname="lab-pc-3")
    dialog = OtherUserDialog(session, "bob", now=NOW)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.at_now.isChecked()
    assert dialog.alive_label.isVisible()
    assert "root may still be working (on lab-pc-3)" in dialog.alive_label.text()
    dialog.new_button.click()
    assert dialog.choice() == ResumeChoice(ResumeAction.NEW, NOW)


def test_a_session_started_moments_ago_without_a_heartbeat_is_said_to_be_in_use(qtbot):
    """Started from the command line 30 s ago: no heartbeat yet, so no warning was given and
    nothing was offered; its start says it is in use as a heartbeat would."""
    started = NOW - timedelta(seconds=30)
    session = replace(_session(heartbeat=False), started=started, start_text=started.isoformat())
    dialog = OtherUserDialog(session, "bob", now=NOW)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.alive_label.isVisible() and dialog.at_now.isChecked()
    assert dialog.alive_label.text().startswith("It was started just now: root may still be")


def test_now_before_a_start_ahead_of_this_pcs_clock_is_refused_in_the_dialog(qtbot):
    """A session whose start is ahead of this PC's clock (another PC's clock runs fast): "now"
    would be before it; the dialog says so instead of a refusal about a time nobody typed."""
    session = replace(
        _session(heartbeat=True),
        started=NOW + timedelta(minutes=2),
        last_heartbeat=NOW + timedelta(minutes=2),
    )
    dialog = OtherUserDialog(session, "bob", now=NOW)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.at_now.isChecked()
    dialog.new_button.click()
    assert dialog.choice() is None
    assert "before the session started" in dialog.problem_label.text()


def test_enter_ends_the_other_users_session(qtbot, owner_dialog):
    dialog = owner_dialog(heartbeat=True)
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.choice() is not None and dialog.choice().action is ResumeAction.NEW


def test_escape_and_closing_choose_nothing(qtbot, owner_dialog):
    dialog = owner_dialog(heartbeat=True)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.choice() is None and dialog.isVisible()
    dialog.close()
    assert dialog.choice() is None and dialog.isVisible()


def test_without_a_heartbeat_the_user_types_a_time_between_start_and_now(qtbot, owner_dialog):
    dialog = owner_dialog(heartbeat=False)
    assert not dialog.at_heartbeat.isEnabled() and dialog.at_typed.isChecked()
    # Which clock a typed time is on (the instrument's, maybe not this PC's), at the day typed.
    assert dialog.zone_label.text().endswith("clock: America/New_York (EDT, UTC-04:00)")
    dialog.time_edit.setText("2026-03-07 10:00")  # the day before clocks went forward
    assert dialog.zone_label.text().endswith("(EST, UTC-05:00)")
    dialog.time_edit.setText("2026-03-10 16:00")  # in the future
    dialog.new_button.click()
    assert dialog.choice() is None
    assert "future" in dialog.problem_label.text()
    dialog.time_edit.setText("2026-03-08 10:00")  # before the start (16:36 two days ago)
    dialog.new_button.click()
    assert dialog.choice() is None and "before the session started" in dialog.problem_label.text()
    assert "16:36:00 EDT)" in dialog.problem_label.text()  # the start's time names its clock
    dialog.time_edit.setText("")
    qtbot.keyClicks(dialog.time_edit, "2026-03-08 18:45")
    dialog.new_button.click()
    assert dialog.choice() == ResumeChoice(
        ResumeAction.NEW, datetime(2026, 3, 8, 18, 45, tzinfo=dialog.session.started.tzinfo)
    )


def test_without_a_heartbeat_enter_alone_ends_nothing_at_now(qtbot, owner_dialog):
    # When the session really ended is unknown: no time is offered, so Enter alone (the
    # default button) cannot end a session left open for days at "now".
    dialog = owner_dialog(heartbeat=False)
    assert dialog.time_edit.text() == ""
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.choice() is None and dialog.isVisible()
    assert dialog.problem_label.text().startswith("Type the date and time as")
    # The example never breaks between its date and its time in the wrapped label.
    assert dialog.problem_label.text().endswith("for example 2026-03-10\u00a017:30.")


def test_typing_a_time_selects_it_even_with_a_heartbeat(qtbot, owner_dialog):
    dialog = owner_dialog(heartbeat=True)
    dialog.time_edit.selectAll()
    qtbot.keyClicks(dialog.time_edit, "2026-03-09 09:00")
    assert dialog.at_typed.isChecked()
    dialog.new_button.click()
    assert dialog.choice().end_at == datetime(2026, 3, 9, 9, 0, tzinfo=TZ)


def test_continue_needs_the_button_that_names_the_owner(owner_dialog):
    dialog = owner_dialog(heartbeat=True)
    dialog.continue_button.click()
    assert dialog.choice() == ResumeChoice(ResumeAction.CONTINUE)


def test_own_session_still_gets_the_resume_dialog(qtbot, make_window, sqlite_db, monkeypatch):
    window = make_window(sqlite_db, start=False)
    me = lifecycle.default_user()
    session = _session(heartbeat=True, user=me)
    window.connected = type("C", (), {"user": me})()  # what the connect step sets
    shown: list[type] = []
    monkeypatch.setattr(ResumeDialog, "exec", lambda self: shown.append(type(self)) or 0)
    monkeypatch.setattr(OtherUserDialog, "exec", lambda self: shown.append(type(self)) or 0)
    MainWindow.ask_resume_choice(window, session)
    MainWindow.ask_resume_choice(window, _session(heartbeat=True, user=me + "-other"))
    assert shown == [ResumeDialog, OtherUserDialog]
    window.connected = None


# -- the window, two logins --------------------------------------------------------------


def _roots_open_session(database: str, monkeypatch, tmp_path: Path) -> OpenSession:
    """root starts a session 46 h ago (heartbeat 2 h later) and leaves it open."""
    login_as(monkeypatch, tmp_path / "home-root", "root")
    started = lifecycle.start_session(
        instrument=PID,
        user=lifecycle.default_user(),
        at=timestamps.now_in("America/New_York") - timedelta(hours=46),
        engine=database,
    ).session
    lifecycle.record_heartbeat(started.session_identifier, engine=database)
    beat = started.started + timedelta(hours=2)
    with sqlite3.connect(database) as conn:  # root's last heartbeat: 44 h ago
        conn.execute(
            "UPDATE nexus_logger_heartbeat SET last_alive = ? WHERE session_identifier = ?",
            (timestamps.to_db(beat, "America/New_York"), started.session_identifier),
        )
    conn.close()
    # This PC's record (one for every login) last saw it alive then too.
    update_local_file(started.session_identifier, {"last_alive": beat.isoformat()})
    login_as(monkeypatch, tmp_path / "home-bob", "bob")
    found = lifecycle.find_open_session(PID, engine=database)  # as bob sees it
    assert found is not None and found.user == "root" and found.last_heartbeat == beat
    return found


def test_bob_ends_roots_session_at_its_heartbeat_and_starts_his_own(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path, caplog
):
    old = _roots_open_session(sqlite_db, monkeypatch, tmp_path)
    window = make_window(sqlite_db, start=False)
    asked: list[OpenSession] = []

    def default_answer(session: OpenSession) -> ResumeChoice | None:
        # What a person pressing Enter in the real dialog gets.
        asked.append(session)
        dialog = OtherUserDialog(session, window.connected.user, window)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        return dialog.choice()

    window.ask_resume_choice = default_answer
    caplog.set_level(logging.INFO, logger="nexus_logger")
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    assert [s.session_identifier for s in asked] == [old.session_identifier]
    assert window.session is not None and window.session.user == "bob"
    assert window.session_page.user_label.text() == "User: bob"
    # The running page says root's session was really ended, and when.
    assert window.session_page.message_label.text().startswith("root's session was ended at")
    old_rows = rows_of(sqlite_db, old.session_identifier)
    assert [(r["event_type"], r["record_status"], r["user"]) for r in old_rows] == [
        ("START", "TO_BE_BUILT", "root"),
        ("END", "TO_BE_BUILT", "root"),
    ]
    ended = timestamps.parse(old_rows[1]["timestamp"])
    assert old.last_heartbeat is not None
    assert abs((ended - old.last_heartbeat).total_seconds()) < 1
    (new_start,) = rows_of(sqlite_db, window.session.session_identifier)
    assert (new_start["record_status"], new_start["user"]) == ("WAITING_FOR_END", "bob")
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        old.session_identifier in m and "user root" in m and "bob found it open" in m
        for m in logged
    ), logged


def test_bob_continues_roots_session_only_when_he_says_so(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path, caplog
):
    old = _roots_open_session(sqlite_db, monkeypatch, tmp_path)
    window = make_window(sqlite_db, start=False)

    def continue_explicitly(session: OpenSession) -> ResumeChoice | None:
        dialog = OtherUserDialog(session, window.connected.user, window)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.continue_button.click()
        return dialog.choice()

    window.ask_resume_choice = continue_explicitly
    caplog.set_level(logging.INFO, logger="nexus_logger")
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window.session is not None
    assert window.session.session_identifier == old.session_identifier
    assert window.session_page.user_label.text() == "User: root"
    assert [r["event_type"] for r in rows_of(sqlite_db, old.session_identifier)] == ["START"]
    assert any("bob continues session" in r.getMessage() for r in caplog.records)
    # Closing the window asks about root's session, not "your session".
    question = window.close_dialog()
    qtbot.addWidget(question)
    texts = [label.text() for label in question.findChildren(QLabel)]
    assert "root's session on Test TEM is still running." in texts, texts
    # Ending it later is ending root's session: it keeps root, and the trail says bob did it.
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    rows = rows_of(sqlite_db, old.session_identifier)
    assert [(r["event_type"], r["user"]) for r in rows] == [("START", "root"), ("END", "root")]
    (entry,) = admin_actions.list_audit(session_identifier=old.session_identifier, engine=sqlite_db)
    assert entry.action == "end_other_login" and "by bob, another login" in entry.summary


def test_no_answer_about_roots_session_continues_nothing(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path
):
    old = _roots_open_session(sqlite_db, monkeypatch, tmp_path)
    window = make_window(sqlite_db, start=False)
    window.ask_resume_choice = lambda session: None
    window.start()
    wait_phase(qtbot, window, Phase.FAILED)
    assert window.session is None
    assert window.steps_page.state(Step.CHECK) is StepState.FAILED
    assert "open session of root" in window.steps_page.error_label.text()
    assert [r["event_type"] for r in rows_of(sqlite_db, old.session_identifier)] == ["START"]


def test_bob_picks_the_end_time_of_roots_session(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path
):
    old = _roots_open_session(sqlite_db, monkeypatch, tmp_path)
    window = make_window(sqlite_db, start=False)
    picked = (old.started + timedelta(hours=5)).replace(second=0, microsecond=0)

    def pick(session: OpenSession) -> ResumeChoice | None:
        dialog = OtherUserDialog(session, window.connected.user, window)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.time_edit.selectAll()
        qtbot.keyClicks(dialog.time_edit, picked.strftime("%Y-%m-%d %H:%M"))
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        return dialog.choice()

    window.ask_resume_choice = pick
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    old_rows = rows_of(sqlite_db, old.session_identifier)
    assert [(r["event_type"], r["user"]) for r in old_rows] == [("START", "root"), ("END", "root")]
    assert timestamps.parse(old_rows[1]["timestamp"]) == picked


def test_a_session_ended_elsewhere_while_bob_chose_is_not_said_to_be_ended_by_him(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path
):
    """Staff ended root's session (at its own time) while bob's dialog was open: the running
    page said "root's session was ended at <bob's time>", which was not what happened."""
    old = _roots_open_session(sqlite_db, monkeypatch, tmp_path)
    window = make_window(sqlite_db, start=False)
    by_staff = old.started + timedelta(hours=1)

    def meanwhile(session: OpenSession) -> ResumeChoice | None:
        lifecycle.end_session(
            session_identifier=session.session_identifier, at=by_staff, engine=sqlite_db
        )
        return ResumeChoice(ResumeAction.NEW, datetime.now(TZ))

    window.ask_resume_choice = meanwhile
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    said = window.session_page.message_label.text()
    assert said.startswith("This session had already been ended at"), said
    assert "root's session was ended at" not in said
    ends = [r for r in rows_of(sqlite_db, old.session_identifier) if r["event_type"] == "END"]
    assert len(ends) == 1 and timestamps.parse(ends[0]["timestamp"]) == by_staff
