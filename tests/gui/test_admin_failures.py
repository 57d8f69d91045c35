# ruff: noqa: F811  (make_tab is the fixture of test_admin_tab, used as a parameter)
"""Every admin action that fails says so next to its buttons, in one sentence, and never stays
on "Preparing..."; the force-end time is typed, checked and zoned before OK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from nexus_logger.core.staff import admin_actions
from nexus_logger.gui.admin.end_time import EndTimeDialog
from tests.gui.test_admin_tab import make_tab, wait_idle  # noqa: F401 (fixture)
from tests.helpers_admin import audit_count, dump_session_log, insert_rows, raw_execute, session

NY = ZoneInfo("America/New_York")
STUCK = ("Preparing\u2026", "Applying\u2026")


def _fails_with(qtbot, tab, *fragments: str) -> str:
    def settled() -> None:
        assert tab.action_label.text().startswith("Nothing was"), tab.action_label.text()

    qtbot.waitUntil(settled, timeout=15_000)
    wait_idle(qtbot, tab)
    text = tab.action_label.text()
    assert text not in STUCK and "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text
    return text


@pytest.fixture
def open_session_db(sqlite_db: str) -> str:
    session(sqlite_db, "open", user="dave", status="WAITING_FOR_END", start_h=30, end_h=None)
    return sqlite_db


def test_force_end_in_the_future_or_before_the_start_is_said_and_changes_nothing(
    qtbot, make_tab, open_session_db: str
) -> None:
    tab = make_tab(open_session_db)
    tab.confirm_plan = lambda plan: pytest.fail("no confirmation for a refused time")
    tab.show_session("open")
    qtbot.waitUntil(tab.force_end_button.isEnabled)
    before = dump_session_log(open_session_db)
    tab.ask_end_time = lambda events: datetime.now(UTC) + timedelta(days=3)
    tab.force_end_button.click()
    _fails_with(qtbot, tab, "in the future")
    tab.ask_end_time = lambda events: datetime(2025, 2, 9, 5, 0, tzinfo=NY)  # START: 06:00
    tab.force_end_button.click()
    _fails_with(qtbot, tab, "before the session started")
    assert dump_session_log(open_session_db) == before and audit_count(open_session_db) == 0


def test_requeue_of_a_session_someone_requeued_meanwhile(qtbot, make_tab, sqlite_db) -> None:
    session(sqlite_db, "err", status="ERROR")
    tab = make_tab(sqlite_db)
    tab.show_session("err")
    qtbot.waitUntil(tab.requeue_button.isEnabled)
    raw_execute(sqlite_db, "UPDATE session_log SET record_status='TO_BE_BUILT'")
    tab.confirm_plan = lambda plan: pytest.fail("nothing to confirm")
    tab.requeue_button.click()
    _fails_with(qtbot, tab, "already TO_BE_BUILT")


def test_fix_user_with_a_bad_name(qtbot, make_tab, sqlite_db) -> None:
    insert_rows(
        sqlite_db,
        [
            ("mm", "TEST-TEM-001", "2025-02-09T08:00:00-05:00", "START", "TO_BE_BUILT", "frank"),
            ("mm", "TEST-TEM-001", "2025-02-09T09:00:00-05:00", "END", "TO_BE_BUILT", "grace"),
        ],
    )
    tab = make_tab(sqlite_db)
    tab.show_session("mm")
    qtbot.waitUntil(tab.fix_user_button.isEnabled)
    tab.ask_user_name = lambda users: "x" * 80
    tab.fix_user_button.click()
    _fails_with(qtbot, tab, "at most 50")


def test_a_change_between_confirmation_and_apply_is_refused(
    qtbot, make_tab, open_session_db: str
) -> None:
    tab = make_tab(open_session_db)
    tab.show_session("open")
    qtbot.waitUntil(tab.force_end_button.isEnabled)
    tab.ask_end_time = lambda events: datetime.now(UTC) - timedelta(hours=1)

    def someone_else_ends_it(plan: admin_actions.ActionPlan) -> bool:
        admin_actions.apply(
            admin_actions.plan_force_end("open", datetime.now(UTC), engine=open_session_db),
            login="root",
            administrators=["root"],
            engine=open_session_db,
        )
        return True

    tab.confirm_plan = someone_else_ends_it
    tab.force_end_button.click()
    text = _fails_with(qtbot, tab, "It is shown as it is now.")
    assert text.lower().count("nothing was changed") == 1
    assert audit_count(open_session_db) == 1  # only the other administrator's change
    # The session as it is now (the other END), not as it was previewed: no Force end.
    qtbot.waitUntil(lambda: "END" in {e.event_type for e in tab.sessions_page.detail.events})
    assert not tab.force_end_button.isEnabled()


def test_csv_export_that_cannot_be_written(qtbot, make_tab, sqlite_db, tmp_path: Path) -> None:
    session(sqlite_db, "s1")
    tab = make_tab(sqlite_db)
    tab.ask_csv_path = lambda: str(tmp_path / "no-such-folder" / "out.csv")
    tab.export_button.click()
    text = _fails_with(qtbot, tab, "could not be written")
    assert text.startswith("Nothing was exported")


def test_done_is_not_left_on_another_session(qtbot, make_tab, sqlite_db) -> None:
    session(sqlite_db, "err", status="ERROR")
    session(sqlite_db, "other", status="COMPLETED", start_h=60, end_h=59)
    tab = make_tab(sqlite_db)
    tab.confirm_plan = lambda plan: True
    tab.show_session("err")
    qtbot.waitUntil(tab.requeue_button.isEnabled)
    tab.requeue_button.click()
    qtbot.waitUntil(lambda: tab.action_label.text().startswith("Done"))
    wait_idle(qtbot, tab)
    tab.search_edit.clear()  # show_session searched for "err"
    tab.apply_filters()
    wait_idle(qtbot, tab)
    rows = [s.session_identifier for s in tab.model.summaries()]
    tab.select_row(rows.index("other"))
    qtbot.waitUntil(lambda: tab._detail_sid == "other")
    assert tab.action_label.text() == ""


# -- the end-time dialog -------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 18, 30, 40, tzinfo=UTC)  # 14:30:40 in New York (EDT)
STARTED = datetime(2026, 3, 10, 8, 5, 31, tzinfo=NY)


@pytest.fixture
def dialog(qtbot) -> EndTimeDialog:
    dlg = EndTimeDialog(STARTED, "America/New_York", now=NOW)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def _type(qtbot, dlg: EndTimeDialog, text: str) -> None:
    dlg.edit.selectAll()
    qtbot.keyClick(dlg.edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(dlg.edit, text)


def _ok(dlg: EndTimeDialog):
    return dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_the_start_line_says_which_pass_of_a_repeated_hour(qtbot) -> None:
    """Started at 01:30 EDT on the day New York's clocks go back: the line says EDT (the
    zone line above it names today's EST), or "01:30" would read as the second pass."""
    started = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first pass
    dlg = EndTimeDialog(started, "America/New_York", now=datetime(2026, 11, 1, 9, tzinfo=UTC))
    qtbot.addWidget(dlg)
    assert dlg.start_label.text() == "Started: 2026-11-01 01:30:00 EDT"
    assert "(EST, UTC-05:00)" in dlg.zone_label.text()


def test_typed_digits_are_the_time_written(qtbot, dialog: EndTimeDialog) -> None:
    assert dialog.edit.text() == "2026-03-10 14:30"  # now, in the zone, to the minute
    _type(qtbot, dialog, "2026-03-10 12:00")
    assert dialog.value() == datetime(2026, 3, 10, 12, 0, tzinfo=NY)
    assert dialog.value().second == 0 and _ok(dialog).isEnabled()
    assert "America/New_York (EDT, UTC-04:00)" in dialog.zone_label.text()
    assert dialog.start_label.text() == "Started: 2026-03-10 08:05:31 EDT"
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    assert dialog.result() == EndTimeDialog.DialogCode.Accepted


def test_the_start_s_own_minute_is_refused_before_ok_as_the_action_refuses_it(qtbot) -> None:
    """The field offers the current minute; for a session started within it, that minute
    means "at the start" (it was refused as "before the session started"), which the action
    then refuses: a record of no time at all. OK let it through, and after the dialog the
    user read "Nothing was changed" (staff trial); it is said under the field now."""
    started = NOW.replace(second=31)
    dlg = EndTimeDialog(started, "America/New_York", now=NOW.replace(second=50))
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.edit.text() == "2026-03-10 14:30"
    assert "the minute the session started" in dlg.problem_label.text()
    assert "before the session started" not in dlg.problem_label.text()
    assert not _ok(dlg).isEnabled() and dlg.value() is None
    exact = EndTimeDialog(STARTED.replace(second=0), "America/New_York", now=NOW)
    qtbot.addWidget(exact)
    _type(qtbot, exact, "2026-03-10 08:05")  # a start on the minute: the same
    assert "the minute the session started" in exact.problem_label.text()


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("2026-12-01 12:00", "in the future"),
        ("2026-03-10 08:00", "before the session started (2026-03-10 08:05:31 EDT)"),
        ("10/03/2026 12:00", "YYYY-MM-DD HH:MM"),
        ("2026-03-10 25:00", "YYYY-MM-DD HH:MM"),
    ],
)
def test_wrong_times_are_refused_before_ok(
    qtbot, dialog: EndTimeDialog, typed: str, problem: str
) -> None:
    height = dialog.height()
    _type(qtbot, dialog, typed)
    assert problem in dialog.problem_label.text().replace("\u00a0", " ")  # no-break spaces
    assert not _ok(dialog).isEnabled() and dialog.value() is None
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    assert dialog.isVisible()  # Enter does not get past it either
    assert dialog.height() == height  # the message has its room from the start


def test_a_minute_the_clock_skipped_or_showed_twice_is_refused_until_its_offset_is_given(
    qtbot,
) -> None:
    """Daylight saving time in New York, 2026: 02:30 on 8 March never happened, 01:30 on
    1 November happened twice; the dialog says so and takes the offset that picks one."""
    started = datetime(2026, 3, 7, 20, 0, tzinfo=NY)
    dlg = EndTimeDialog(started, "America/New_York", now=datetime(2026, 11, 3, tzinfo=UTC))
    qtbot.addWidget(dlg)
    dlg.show()
    _type(qtbot, dlg, "2026-03-08 02:30")
    assert "does not exist in America/New_York" in dlg.problem_label.text()
    assert not _ok(dlg).isEnabled() and dlg.value() is None
    _type(qtbot, dlg, "2026-11-01 01:30")
    assert "happens twice in America/New_York" in dlg.problem_label.text()
    assert "2026-11-01T01:30-04:00" in dlg.problem_label.text()  # both readings named
    assert not _ok(dlg).isEnabled()
    _type(qtbot, dlg, "2026-11-01 01:30 -05:00")  # the second 01:30
    assert dlg.problem_label.text() == "" and _ok(dlg).isEnabled()
    assert "(EST, UTC-05:00)" in dlg.zone_label.text()
    assert dlg.value().isoformat() == "2026-11-01T01:30:00-05:00"
    _type(qtbot, dlg, "2026-07-01 12:00")  # the zone line follows the day typed
    assert "(EDT, UTC-04:00)" in dlg.zone_label.text()


def test_the_dialogs_judge_a_1x_start_as_the_core_does() -> None:
    """A START NexusLIMS 1.x wrote without an offset is compared by wall clock (its END is
    written without one too): 01:50 EDT follows a START stored as 01:10, which reads as EST.
    The dialogs compared by real time and kept OK disabled for an end the core accepts."""
    from nexus_logger.core import timestamps
    from nexus_logger.gui.admin.end_time import end_problem

    stored = "2025-11-02T01:10:00.000"
    started = timestamps.parse(stored, "America/New_York")
    ended = datetime.fromisoformat("2025-11-02T01:50:00-04:00")
    now = datetime(2025, 11, 2, 12, tzinfo=UTC)
    assert end_problem(ended, started, now, stored) is None
    earlier = datetime.fromisoformat("2025-11-02T01:05:00-05:00")
    assert "before the session started" in (end_problem(earlier, started, now, stored) or "")


def test_a_refusal_that_says_nothing_was_changed_is_not_prefixed_again(
    qtbot, make_tab, open_session_db: str
) -> None:
    """The server's refusal of an admin action ends "...; nothing was changed." and the tab
    put "Nothing was changed:" before it (found by the staff trial); other errors get it."""
    from nexus_logger.gui.worker import JobError

    tab = make_tab(open_session_db)
    refusal = "The database account 'pc' may not run admin actions; nothing was changed."
    tab._action_failed(JobError(refusal, RuntimeError(refusal)))
    assert tab.action_label.text().lower().count("nothing was changed") == 1
    tab._action_failed(JobError("The database file is locked.", RuntimeError()))
    assert tab.action_label.text() == "Nothing was changed: The database file is locked."
