"""Outbox conflicts stay visible in the window until handled (issue 4, item 3)."""

from __future__ import annotations

from datetime import timedelta

from nexus_logger.core import timestamps
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import ConflictKind, EventKind, EventState
from nexus_logger.core.sessions import lifecycle
from nexus_logger.gui.main_window import Phase
from tests.gui.helpers_gui import PID, wait_phase
from tests.helpers_outbox import queue_offline


def _end_kept_for_a_force_ended_session(db: str) -> DurableLogger:
    """An END kept on this PC for a session that staff force-ended meanwhile (a conflict)."""
    durable = DurableLogger(db)
    inst = durable.identify(instrument=PID)
    old = lifecycle.start_session(instrument=PID, user="alice", engine=db).session
    lifecycle.end_session(session_identifier=old.session_identifier, engine=db)
    durable.outbox.add(
        EventKind.END,
        database=durable.database_key,
        session_identifier=old.session_identifier,
        instrument_pid=PID,
        timezone=inst.timezone,
        at_text=timestamps.to_db(old.started + timedelta(hours=1), inst.timezone),
        user="alice",
        start_text=old.start_text,
    )
    return durable


def test_conflict_is_shown_until_marked_handled(qtbot, make_window, sqlite_db):
    durable = _end_kept_for_a_force_ended_session(sqlite_db)

    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)  # the launch sent what waited
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.conflicts == 1)
    words = window.sync_indicator.plain_text()
    assert "Staff attention needed: 1 conflict" in words and "debug log" in words
    assert "nexus-logger" not in words  # no command line for the person at the instrument
    [conflict] = durable.conflicts()
    assert conflict.kind is ConflictKind.END_ALREADY_RECORDED

    durable.resolve_conflict(conflict.id, by="staff")
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.conflicts == 0)
    assert window.sync_indicator.plain_text().startswith("Online")


def test_a_conflict_of_another_database_is_not_shown(qtbot, make_window, sqlite_db, tmp_path):
    from tests.conftest import _populate

    other = _populate(str(tmp_path / "other.sqlite"))
    durable = _end_kept_for_a_force_ended_session(other)
    durable.sync()  # the replay files the conflict, for the other database
    assert len(durable.conflicts()) == 1

    window = make_window(sqlite_db, auto_close_seconds=60)
    wait_phase(qtbot, window, Phase.RUNNING)
    window.refresh_sync_state()
    qtbot.waitUntil(lambda: window.sync_indicator.online is True)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert window.sync_indicator.conflicts == 0
    assert window.sync_indicator.plain_text().startswith("Online")


def test_held_events_are_never_promised_to_be_sent_automatically(qtbot, make_window, sqlite_db):
    """At launch the status line said "1 event waiting on this PC, sent automatically" for an
    event held by a conflict (it is not sent by itself) until the first status check."""
    durable = DurableLogger(sqlite_db)
    durable.identify(instrument=PID)
    event = queue_offline(durable, EventKind.START, "held-one", "2025-03-04T09:00:00-05:00")
    durable.outbox.set_state(event.id, EventState.HELD)
    durable.outbox.add_conflict(event, ConflictKind.REJECTED, "refused by the database")
    window = make_window(sqlite_db, start=False, auto_close_seconds=60)
    shown: list[str] = []
    indicator = window.sync_indicator
    real = indicator.set_state

    def record(*args, **kwargs):
        real(*args, **kwargs)
        shown.append(indicator.plain_text())

    indicator.set_state = record
    window.start()
    wait_phase(qtbot, window, Phase.RUNNING)
    qtbot.waitUntil(lambda: window.worker.pending == 0)
    assert shown and all("sent automatically" not in words for words in shown), shown
    assert "1 event kept on this PC" in shown[0]
