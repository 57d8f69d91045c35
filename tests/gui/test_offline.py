"""The database is away (share not connected): sessions are kept on this PC and sent later.

"Away" is the SQLite file moved aside, as when the network share holding it is not
connected: the core reports it as unreachable at once, and every START and END goes through
the local outbox (:class:`~nexus_logger.core.offline.durable.DurableLogger`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventKind, EventState, pending_events
from nexus_logger.core.session_handler import get_sessions_to_build
from nexus_logger.core.sessions import lifecycle
from nexus_logger.gui.main_window import Phase
from nexus_logger.gui.pages import Step, StepState
from tests.gui.helpers_gui import PID, rows_of, session_rows, wait_phase
from tests.helpers_outbox import queue_offline


@contextmanager
def database_away(path: str) -> Iterator[None]:
    """The database file cannot be reached inside the block."""
    os.rename(path, path + ".away")
    try:
        yield
    finally:
        os.rename(path + ".away", path)


def _on_a_share(database: str, tmp_path: Path) -> Path:
    """A copy of the database in a folder of its own (a share a test makes read-only)."""
    folder = tmp_path / "share"
    folder.mkdir()
    path = folder / "nexuslims.sqlite"
    shutil.copyfile(database, path)
    return path


@contextmanager
def _immutable(*targets: Path) -> Iterator[None]:
    """``targets`` immutable (chattr +i) inside the block: a share that takes reads, not
    writes. The test is skipped where that is refused (not root, no such flag)."""
    done = [subprocess.run(["chattr", "+i", str(t)], capture_output=True) for t in targets]
    try:
        if any(d.returncode != 0 for d in done):
            pytest.skip("chattr +i is refused here (not root, or the file system has no such flag)")
        yield
    finally:
        for target in reversed(targets):
            subprocess.run(["chattr", "-i", str(target)], capture_output=True)


def _seen_before(database: str) -> None:
    """This PC reached the database once, so it knows its instrument (as after any launch)."""
    DurableLogger(database).identify(instrument=PID)


def test_database_down_at_start_keeps_the_session_on_this_pc(qtbot, make_window, sqlite_db):
    _seen_before(sqlite_db)
    with database_away(sqlite_db):
        window = make_window(sqlite_db, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.RUNNING)
        steps = window.steps_page
        assert steps.state(Step.CONNECT) is StepState.WARNING
        assert steps.state(Step.IDENTIFY) is StepState.DONE
        assert steps.state(Step.START) is StepState.WARNING
        assert window.session_queued
        assert window.session_page.state_label.text() == "Session running (kept on this PC)"
        assert "saved on this PC" in window.session_page.message_label.text()
        assert "waiting since" in window.session_page.message_label.text()
        # Shown to the user, the kept START counts (it is no phantom for the sender).
        qtbot.waitUntil(lambda: window.connected.logger.pending_events()[0].confirmed)
        qtbot.waitUntil(lambda: window.sync_indicator.pending == 1)
        assert "1 event waiting on this PC" in window.sync_indicator.plain_text()
        assert window.session_page.end_button.isEnabled()
        assert pending_events() == 1
        assert window.session is not None
        ident = window.session.session_identifier
        # Heartbeats go on, kept on this PC (the database has nothing to beat on yet).
        qtbot.waitUntil(lambda: window.worker.pending == 0)
        window.send_heartbeat()
        qtbot.waitUntil(lambda: window.worker.pending == 0)
        beat = lifecycle.last_heartbeat(ident)
        assert beat is not None and beat >= window.session.started
    assert session_rows(sqlite_db) == []  # nothing reached the database while it was away

    # The share is back: the next status check sends the START.
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.pending == 0 and window.sync_indicator.online)
    assert window.session_page.state_label.text() == "Session running"
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "WAITING_FOR_END")
    ]
    window.end_session()
    wait_phase(qtbot, window, Phase.ENDED)
    assert [s.session_identifier for s in get_sessions_to_build(engine=sqlite_db)] == [ident]


def test_database_down_at_end_keeps_the_end_on_this_pc(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.session is not None
    ident = window.session.session_identifier
    with database_away(sqlite_db):
        window.end_session()
        wait_phase(qtbot, window, Phase.ENDED)
        assert window.end_outcome is not None and window.end_outcome.queued
        assert "saved on this PC" in window.ended_page.message_label.text()
        assert window.ended_page.duration_label.text().startswith("Duration: ")
        qtbot.waitUntil(lambda: window.sync_indicator.pending == 1)
        assert pending_events() == 1
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.pending == 0 and window.sync_indicator.online)
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    assert [s.session_identifier for s in get_sessions_to_build(engine=sqlite_db)] == [ident]
    # The page no longer says the end waits on this PC once the database has it.
    qtbot.waitUntil(
        lambda: (
            window.ended_page.message_label.text()
            == "Session ended. NexusLIMS will build its record. "
            "Its end, kept on this PC, has now been sent."
        )
    )


def test_a_kept_end_that_met_an_end_written_elsewhere_is_not_said_sent(
    qtbot, make_window, sqlite_db
):
    """Ended here while the database was away, and from another PC meanwhile: the outbox
    keeps the stored END, and the page says so with that END's time (it said this PC's END
    "has now been sent", with its own time)."""
    window = make_window(sqlite_db, auto_close_seconds=600)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    ident = window.session.session_identifier
    with database_away(sqlite_db):
        window.end_session(ask_about_files=False)
        wait_phase(qtbot, window, Phase.ENDED)
        ours = window.ended_page.times_label.text()
        elsewhere = datetime.now(UTC) + timedelta(minutes=3)
        lifecycle.end_session(session_identifier=ident, at=elsewhere, engine=sqlite_db + ".away")
    window.refresh_sync_state()
    page = window.ended_page
    qtbot.waitUntil(lambda: "already been ended elsewhere" in page.message_label.text())
    assert "has now been sent" not in page.message_label.text()
    assert page.times_label.text() != ours
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]


def test_a_note_refused_at_an_end_kept_here_is_still_said_once_sent(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db, auto_close_seconds=600)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    with database_away(sqlite_db):
        window.session_page.note_edit.setText("bell \x07")
        window.end_session(ask_about_files=False)
        wait_phase(qtbot, window, Phase.ENDED)
    window.refresh_sync_state()
    label = window.ended_page.message_label
    qtbot.waitUntil(lambda: "has now been sent" in label.text())
    assert "The note typed last was not saved" in label.text()


def test_the_status_line_claims_nothing_saved_while_an_end_is_on_its_way(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """A slow database (another program holds the file): while the END waits on it, the
    status line no longer says "everything is saved", as it did from the check before."""
    window = make_window(sqlite_db, auto_close_seconds=60, db_timeout_seconds=5)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.worker.pending == 0 and window.sync_indicator.online)
    assert "everything is saved" in window.sync_indicator.plain_text()
    lock = sqlite_lock(sqlite_db).acquire()
    window.end_session(ask_about_files=False)
    assert window.phase is Phase.ENDING
    assert "everything is saved" not in window.sync_indicator.plain_text()
    lock.release()
    wait_phase(qtbot, window, Phase.ENDED)
    qtbot.waitUntil(lambda: "everything is saved" in window.sync_indicator.plain_text())


def test_os_logoff_with_the_database_down_keeps_the_end_on_this_pc(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.session is not None
    ident = window.session.session_identifier
    with database_away(sqlite_db):
        assert window.end_for_shutdown(timeout_ms=10_000) is True
        assert pending_events() == 1
        qtbot.waitUntil(lambda: window.worker.pending == 0)  # its own retry, still offline
    # The next launch (or 'nexus-logger sync') sends it.
    report = DurableLogger(sqlite_db).sync()
    assert report.sent == 1 and report.pending == 0
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]


def test_database_down_on_a_pc_that_never_reached_it_fails_with_retry(
    qtbot, make_window, sqlite_db
):
    with database_away(sqlite_db):
        window = make_window(sqlite_db)
        wait_phase(qtbot, window, Phase.FAILED)
        message = window.steps_page.error_label.text()
        assert "Traceback" not in message
        # Said at the step that failed: why the instrument is unknown (the database step only
        # warns, since a PC that knows its instrument can keep the session offline).
        assert window.steps_page.state(Step.IDENTIFY) is StepState.FAILED
        assert message.startswith("This PC does not know its instrument yet")
        assert "cannot reach it now" in message
    window.steps_page.retry_button.click()
    wait_phase(qtbot, window, Phase.RUNNING)
    assert not window.session_queued
    qtbot.waitUntil(lambda: window.sync_indicator.online is True)


def test_a_note_saved_while_the_database_is_away_says_where_it_waits(qtbot, make_window, sqlite_db):
    """Said as it is: the note waits in this window (not "on this PC": it is in no file; the
    END carries it), and
    the footer says the database is away at once, not "Online" until the next heartbeat."""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.sync_indicator.plain_text().startswith("Online")
    with database_away(sqlite_db):
        window.save_note("grid 4")
        qtbot.waitUntil(lambda: "this window saves it" in window.session_page.note_status.text())
        assert "on this PC" not in window.session_page.note_status.text()
        assert window.sync_indicator.plain_text() == "Database not reachable right now"
    window.refresh_sync_state()  # back: the note goes with the next status check
    qtbot.waitUntil(
        lambda: lifecycle.get_note(window.session.session_identifier, engine=sqlite_db) == "grid 4"
    )


def test_a_note_typed_on_a_session_known_only_offline_is_saved_without_a_false_warning(
    qtbot, make_window, sqlite_db
):
    """The window continued a session this PC knew while the database was away (its stored
    note unread); the note typed then was refused when the database came back, the window
    saying "someone else changed the note meanwhile", which nobody had."""
    from nexus_logger.core.settings.identity import os_login
    from nexus_logger.gui.dialogs import ResumeAction, ResumeChoice

    _seen_before(sqlite_db)
    started = lifecycle.start_session(instrument=PID, user=os_login(), engine=sqlite_db)
    lifecycle.remember_open_here(started.session)  # as this PC's start of it did
    ident = started.session.session_identifier
    lifecycle.set_note(ident, "grid 4, from before", engine=sqlite_db)
    with database_away(sqlite_db):
        window = make_window(sqlite_db, start=False, auto_close_seconds=60)
        window.ask_resume_choice = lambda session: ResumeChoice(ResumeAction.CONTINUE)
        window.start()
        wait_phase(qtbot, window, Phase.RUNNING)
        assert window.session is not None and window.session.session_identifier == ident
        window.save_note("grid 4, tilt series")
        qtbot.waitUntil(lambda: "Note not saved yet" in window.session_page.note_status.text())
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.session_page.note_status.text() == "Note saved.")
    assert lifecycle.get_note(ident, engine=sqlite_db) == "grid 4, tilt series"


def test_a_start_waits_for_an_end_kept_here_and_never_asks_about_that_session(
    qtbot, make_window, sqlite_db, tmp_path
):
    """The database answers but refuses writes (a read-only share, here an immutable folder
    and file): alice's END is kept on this PC. The next launch must not offer alice's session
    as open (ending or continuing it looped, or ran a session the database had ended); it
    says the END waits, and Retry starts once the database takes writes again."""
    path = _on_a_share(sqlite_db, tmp_path)
    alice = DurableLogger(str(path), timeout=1.0)
    inst = alice.identify(instrument=PID)
    session = alice.start(instrument=inst, user="alice").session
    with _immutable(path, path.parent):
        assert alice.end(session).queued
        window = make_window(str(path), db_timeout_seconds=1, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.FAILED)
        assert "has not taken its END yet" in window.steps_page.error_label.text()
        assert window.steps_page.state(Step.CHECK) is StepState.WARNING
        assert window.session is None
    qtbot.mouseClick(window.steps_page.retry_button, Qt.MouseButton.LeftButton)
    wait_phase(qtbot, window, Phase.RUNNING)
    ident = session.session_identifier
    assert [(r["event_type"], r["record_status"]) for r in rows_of(str(path), ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    assert window.session is not None and window.session.session_identifier != ident


def test_a_heartbeat_that_finds_the_database_gone_turns_the_status_line_offline(
    qtbot, make_window, sqlite_db
):
    """The status line said "Online: everything is saved in the database" for up to a sync
    interval (30 s) after the heartbeats had found the database gone."""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0 and window.sync_indicator.online is True)
    with database_away(sqlite_db):
        window.send_heartbeat()
        qtbot.waitUntil(lambda: window.sync_indicator.online is False)
        assert "Online" not in window.sync_indicator.plain_text()
        qtbot.waitUntil(lambda: window.worker.pending == 0)


def test_a_status_check_asked_for_while_one_runs_is_run_after_it(qtbot, make_window, sqlite_db):
    """The check running looked while the database was away; the one asked for once it was
    back was dropped as a duplicate, and the window said "Offline" until the next tick."""
    import threading

    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0 and window.sync_indicator.online is True)
    looked = threading.Event()
    with database_away(sqlite_db):
        window.refresh_sync_state()
        window.worker.submit(looked.set)  # runs after that check, on the same thread
        assert looked.wait(10)  # the check has looked (its answer is not delivered yet)
    window.refresh_sync_state()  # the database is back
    qtbot.waitUntil(lambda: window.sync_indicator.online is True and window.worker.pending == 0)


def test_events_waiting_for_a_read_only_database_are_not_said_offline(
    qtbot, make_window, sqlite_db, tmp_path
):
    """A share that takes reads but not writes: the END waits on this PC, and the status line
    says the database refuses changes (it said "Offline", a network fault to look for)."""
    path = _on_a_share(sqlite_db, tmp_path)
    window = make_window(str(path), db_timeout_seconds=1, auto_close_seconds=600)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    with _immutable(path, path.parent):
        window.end_session(ask_about_files=False)
        wait_phase(qtbot, window, Phase.ENDED)
        window.refresh_sync_state()
        qtbot.waitUntil(lambda: window.sync_indicator.pending == 1 and window.worker.pending == 0)
        words = window.sync_indicator.plain_text()
        assert words.startswith("The database refuses changes: 1 event waiting"), words
        assert "Offline" not in words


def test_a_read_only_database_is_said_as_soon_as_a_heartbeat_is_refused(
    qtbot, make_window, sqlite_db, tmp_path
):
    """A read-only share answers every status check: the status line said "Online: everything
    is saved in the database" while heartbeats and the note were refused (user trial)."""
    path = _on_a_share(sqlite_db, tmp_path)
    window = make_window(str(path), db_timeout_seconds=1, auto_close_seconds=600)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.sync_indicator.plain_text().startswith("Online"))
    with _immutable(path):  # the file only: it opens and reads as before
        window.send_heartbeat()
        footer = window.sync_indicator
        qtbot.waitUntil(lambda: "refuses changes" in footer.plain_text())
        window.refresh_sync_state()  # the next status check reads fine: it must not undo it
        qtbot.waitUntil(lambda: window.worker.pending == 0)
        assert "refuses changes" in footer.plain_text() and "Online" not in footer.plain_text()
        window.save_note("grid 7")
        status = window.session_page.note_status
        qtbot.waitUntil(lambda: "refuses changes right now" in status.text())
        assert "Ask IT" not in status.text()  # a user's sentence, not staff's
    # The share takes writes again: the END (with the note) is written, and the status line no
    # longer says the database refuses changes (it did on the ended page, with nothing waiting).
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    qtbot.waitUntil(lambda: window.end_outcome is not None)
    assert not window.end_outcome.queued
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: footer.plain_text().startswith("Online"))


def test_a_session_another_login_ended_while_the_database_refused_writes_is_shown_ended(
    qtbot, make_window, sqlite_db, tmp_path
):
    """As with the database away: another login's END kept on this PC while the file was
    read-only; the window went on running, and its End was folded into that END (review)."""
    path = _on_a_share(sqlite_db, tmp_path)
    window = make_window(str(path), db_timeout_seconds=1, auto_close_seconds=600)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    session = window.session
    with _immutable(path):
        frank = DurableLogger(str(path), timeout=1)
        kept = frank.end(session, at=session.started + timedelta(seconds=1), ended_by="frank")
        assert kept.queued
        window.send_heartbeat()
        wait_phase(qtbot, window, Phase.ENDED)
        assert "ended elsewhere" in window.ended_page.message_label.text()


def test_a_session_another_login_ended_here_while_offline_is_shown_ended(
    qtbot, make_window, sqlite_db
):
    """The database away, frank's launch ended eve's session ("End their session and start
    mine"): that END waited in this PC's outbox, while eve's window showed the session running
    and its heartbeats re-recorded it alive; her End click was then folded into frank's END
    unseen (user trial). Her window now says it was ended, at frank's time."""
    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    session = window.session
    with database_away(sqlite_db):
        frank = DurableLogger(sqlite_db, timeout=1)
        at = session.started + timedelta(seconds=1)
        kept = frank.end(session, at=at, ended_by="frank")
        assert kept.queued
        window.send_heartbeat()
        wait_phase(qtbot, window, Phase.ENDED)
        page = window.ended_page
        assert "ended elsewhere" in page.message_label.text()
        assert (
            page.times_label.text()
            .split(" to ")[1]
            .startswith(at.astimezone(session.started.tzinfo).strftime("%H:%M"))
        )


def test_a_start_held_because_another_session_opened_says_so(qtbot, make_window, sqlite_db):
    """Two PCs start while the database is away; this one's START arrives second and is held
    (another session is open). Its page kept saying the start "will be sent when the database
    answers", which it will not be; the user is now told, with whose session holds it."""
    _seen_before(sqlite_db)
    with database_away(sqlite_db):
        window = make_window(sqlite_db, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.RUNNING)
        assert window.session_queued
        qtbot.waitUntil(lambda: window.connected.logger.pending_events()[0].confirmed)
        # Meanwhile the other PC reached the database and opened its session there.
        lifecycle.start_session(instrument=PID, user="alice", engine=sqlite_db + ".away")
    window.refresh_sync_state()
    page = window.session_page
    qtbot.waitUntil(lambda: "could not be written" in page.message_label.text())
    assert "another session open on this instrument (alice's, since" in page.message_label.text()
    assert "tell facility staff" in page.message_label.text()
    assert window.session_queued and page.state_label.text() == "Session running (kept on this PC)"

    # Staff mark the hold handled (sync --resolve, which gives the START up alone): the page
    # no longer asks its user to tell them, and says what the END will do.
    staff = DurableLogger(sqlite_db)
    [conflict] = staff.conflicts()
    staff.resolve_conflict(conflict.id, by="staff", note="checked with alice")
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: "Facility staff have seen" in page.message_label.text())
    assert "tell facility staff" not in page.message_label.text()
    assert "when you end the session, its start and end are written together" in (
        page.message_label.text()
    )
    assert window.session_queued and page.state_label.text() == "Session running (kept on this PC)"
    # alice's session, still open, overlaps this one: its END is kept too, and the user told.
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    qtbot.waitUntil(lambda: "(overlap)" in window.ended_page.message_label.text())
    assert "kept on this PC, not written" in window.ended_page.message_label.text()


def test_the_start_sent_is_said_although_an_older_conflict_waits(qtbot, make_window, sqlite_db):
    """ "The session start has been sent" waited for nothing at all to wait on this PC: an
    older, unrelated conflict kept the page saying "kept on this PC" for good."""
    _seen_before(sqlite_db)
    logger = DurableLogger(sqlite_db)
    old = queue_offline(logger, EventKind.START, "older-one", "2025-03-04T09:00:00-05:00")
    logger.outbox.set_state(old.id, EventState.HELD)
    with database_away(sqlite_db):
        window = make_window(sqlite_db, auto_close_seconds=60)
        wait_phase(qtbot, window, Phase.RUNNING)
        assert window.session_queued
        qtbot.waitUntil(lambda: window.worker.pending == 0)
    window.refresh_sync_state()
    page = window.session_page
    qtbot.waitUntil(lambda: not window.session_queued)
    assert page.state_label.text() == "Session running"
    assert page.message_label.text() == "The session start has been sent to the database."
    assert window.sync_indicator.pending == 1  # the older one still waits, as before


def test_a_database_locked_past_the_timeout_at_launch_is_said_locked(
    qtbot, make_window, sqlite_db, sqlite_lock
):
    """Another program holds the file past the timeout: the window said "The database cannot
    be reached right now", which sends IT to the network instead of to that program."""
    DurableLogger(sqlite_db).identify(instrument=PID)  # this PC knows its instrument
    lock = sqlite_lock(sqlite_db).acquire()
    try:
        window = make_window(sqlite_db, db_timeout_seconds=1)
        wait_phase(qtbot, window, Phase.RUNNING, timeout=20_000)
        assert window.steps_page.details[Step.CONNECT].text() == (
            "The database is locked by another program right now."
        )
        assert window.session_page.message_label.text().startswith(
            "The database is locked by another program: the session start is saved on this PC"
        )
    finally:
        lock.release()


def test_the_status_line_never_guesses_what_it_cannot_read(qtbot, sqlite_db, tmp_path: Path):
    """Two states the status line said "Online: everything is saved" in, though it could not
    know: this PC's outbox unreadable (a full disk: sessions kept there wait unsent), and the
    database file replaced by something that is no database (the status check failed and the
    line kept its last words)."""
    from nexus_logger.gui import jobs
    from nexus_logger.gui.pages.sync_indicator import SyncIndicator

    indicator = SyncIndicator()
    qtbot.addWidget(indicator)
    box = tmp_path / "box"
    box.mkdir()  # a folder where the outbox file should be: it cannot be opened
    state = jobs.sync_state(DurableLogger(sqlite_db, outbox_path=box))
    assert (state.online, state.pending) == (True, None)
    indicator.set_state(state.online, state.pending, state.conflicts)
    assert "everything is saved" not in indicator.plain_text()
    assert "This PC's outbox cannot be read" in indicator.plain_text()

    logger = DurableLogger(sqlite_db, outbox_path=tmp_path / "outbox.sqlite")
    logger.identify(instrument=PID)
    Path(sqlite_db).write_bytes(b"\x8f not SQLite" * 500)
    state = jobs.sync_state(logger)  # raised SchemaError: a failed job, the line unchanged
    assert (state.online, state.refusing, state.unusable) == (True, True, True)
    indicator.set_state(
        state.online, state.pending, state.conflicts, refusing=state.refusing, unusable=True
    )
    assert indicator.plain_text().endswith("The database answers but cannot be used right now")


def test_a_refused_login_while_running_is_not_said_online(qtbot, make_window, sqlite_db):
    """A login or a right withdrawn while the window runs (a role made NOLOGIN, SELECT on
    session_log revoked): the status check's error was only logged, and the line went on
    saying "Online: everything is saved in the database"."""
    from nexus_logger.core.errors import AccessDenied

    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: "everything is saved" in window.sync_indicator.plain_text())

    def refused() -> None:
        raise AccessDenied("The database server x refused the login.")

    window.connected.logger.check_reachable = refused
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: "refuses changes" in window.sync_indicator.plain_text())
    assert "everything is saved" not in window.sync_indicator.plain_text()
