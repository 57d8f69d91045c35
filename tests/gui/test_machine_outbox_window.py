"""One outbox per PC, seen from the window (issue 14, req 3 and 6).

alice's END is kept on the PC while the database is away (her window stopped by SIGTERM, a real
process; or ended in the program); bob's window, launched next under another login (another
``NEXUS_LOGGER_HOME``, the same machine folder), sends it at start-up and does not offer him
alice's session: it starts his own.
"""

from __future__ import annotations

import signal
import sys

import pytest

from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventKind, EventState
from nexus_logger.gui.main_window import Phase
from tests.gui.helpers_gui import PID, rows_of, wait_phase
from tests.gui.test_other_user import login_as
from tests.gui.test_stop_signals import _launch
from tests.helpers_outbox import moved_away
from tests.test_machine_outbox import read_only


def _bobs_window_sends_it_and_starts_his_own(qtbot, make_window, database, ident) -> None:
    window = make_window(database)  # asking about an open session would fail the test
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window.session is not None and window.session.user == "bob"
    assert window.session_page.user_label.text() == "User: bob"
    assert [(r["event_type"], r["record_status"], r["user"]) for r in rows_of(database, ident)] == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    assert window.sync_indicator.pending == 0


def test_an_end_alice_kept_offline_is_sent_by_bobs_window(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path
):
    login_as(monkeypatch, tmp_path / "home-alice", "alice")
    alices = DurableLogger(sqlite_db, timeout=1.0)
    started = alices.start(instrument=alices.identify(instrument=PID), user="alice")
    with moved_away(sqlite_db):
        ended = alices.end(started.session)
    assert ended.queued and "saved on this PC" in ended.message
    (kept,) = alices.pending_events()
    assert kept.kind is EventKind.END and kept.state is EventState.PENDING
    alices.outbox.close()

    login_as(monkeypatch, tmp_path / "home-bob", "bob")
    _bobs_window_sends_it_and_starts_his_own(
        qtbot, make_window, sqlite_db, started.session.session_identifier
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_alices_window_stopped_by_sigterm_offline_then_bobs_window_sends_her_end(
    qtbot, make_window, sqlite_db, monkeypatch, tmp_path
):
    alice = tmp_path / "home-alice"
    logins = dict.fromkeys(("USER", "LOGNAME", "USERNAME", "LNAME"), "alice")
    proc, ident = _launch(sqlite_db, NEXUS_LOGGER_HOME=str(alice), **logins)
    with moved_away(sqlite_db):  # the share drops, then the PC is shut down
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    log = (alice / "logs" / "nexus-logger.log").read_text(encoding="utf-8")
    assert "Stopped by SIGTERM" in log and "kept on this PC" in log
    assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START"]

    login_as(monkeypatch, tmp_path / "home-bob", "bob")
    _bobs_window_sends_it_and_starts_his_own(qtbot, make_window, sqlite_db, ident)


def test_a_login_that_cannot_write_the_pcs_outbox_folder_is_told_in_the_window(
    qtbot, make_window, sqlite_db, tmp_path
):
    folder = tmp_path / "pc-outbox"
    with read_only(folder):
        window = make_window(sqlite_db, outbox_folder=str(folder))
        wait_phase(qtbot, window, Phase.RUNNING)
        shown = window.session_page.message_label.text()
        assert f"This PC's outbox folder {folder} cannot be written by this login" in shown
        assert "only this login sends them" in shown
        assert "this login does not see the sessions other logins run on this PC" in shown


def test_a_full_disk_under_the_outbox_does_not_stop_the_window_from_starting(
    qtbot, make_window, sqlite_db, tmp_path
):
    """A full local drive (common on acquisition PCs) stopped the window at "Connecting to
    the database" with the database there: counting what waits in the outbox failed, and no
    session was logged at all. The session now goes to the database, the person is told once
    that nothing can be kept on this PC, and the status line keeps checking."""
    from tests.test_outbox_broken import fill, tmpfs

    with tmpfs(tmp_path / "tiny", "size=256k") as disk:
        DurableLogger(sqlite_db, outbox_path=disk / "outbox.sqlite").identify(instrument=PID)
        fill(disk)
        window = make_window(sqlite_db, outbox_folder=str(disk))
        wait_phase(qtbot, window, Phase.RUNNING)
        shown = window.session_page.message_label.text()
        assert "nothing can be kept on this PC" in shown and "is full" in shown
        ident = window.session.session_identifier
        assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START"]
        window.refresh_sync_state()
        qtbot.waitUntil(lambda: window.sync_indicator.online is True)
        window.end_session()
        wait_phase(qtbot, window, Phase.ENDED)
        assert [r["event_type"] for r in rows_of(sqlite_db, ident)] == ["START", "END"]
