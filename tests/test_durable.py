"""DurableLogger (core/offline/durable.py): online writes, offline queueing, replay, conflicts."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy import event as sa_event

from nexus_logger.core import timestamps
from nexus_logger.core.db.instruments import add_instrument
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    InvalidInput,
    SchemaError,
)
from nexus_logger.core.offline import outbox as outbox_module
from nexus_logger.core.offline.durable import (
    QUEUED_END,
    QUEUED_START,
    DurableLogger,
    database_key,
)
from nexus_logger.core.offline.outbox import ConflictKind, EventKind, EventState, Outbox
from nexus_logger.core.sessions import lifecycle
from tests.helpers_outbox import (
    SEM,
    TEM,
    assert_exactly_once,
    assert_pairing_holds,
    dump_session_log,
    durable_for,
    moved_away,
    populate,
    queue_offline,
    raw_execute,
    session_events,
)

T0 = "2025-03-04T09:00:00-05:00"
T1 = "2025-03-04T10:30:00-05:00"
T2 = "2025-03-04T11:00:00-05:00"


def _rows(target: str, sid: str) -> list[tuple]:
    return [(r[4], r[5], r[6], r[3]) for r in dump_session_log(target) if r[1] == sid]


# --- online -------------------------------------------------------------------------------


def test_online_start_and_end_write_at_once(db: str) -> None:
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    started = durable.start(instrument=inst, user="alice", note="grid 4")
    assert (started.created, started.queued) == (True, False)
    assert "Session started" in started.message
    sid = started.session.session_identifier
    assert _rows(db, sid) == [("START", "WAITING_FOR_END", "alice", started.session.start_text)]
    assert lifecycle.get_note(sid, engine=db) == "grid 4"
    assert durable.find_open(TEM).session_identifier == sid

    ended = durable.end(started.session)
    assert not ended.queued and "NexusLIMS will build" in ended.message
    assert [r[:3] for r in _rows(db, sid)] == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    assert durable.pending_count() == 0
    assert durable.find_open(TEM) is None
    # Database first: the START never touched the outbox; the END passed through it (so that
    # a click is never lost) and is sent.
    assert [(e.kind, e.state) for e in durable.outbox.items(states=tuple(EventState))] == [
        (EventKind.END, EventState.SENT)
    ]
    assert assert_pairing_holds(db) == [(sid, TEM, "alice")]


def test_start_while_open_returns_the_open_session(db: str) -> None:
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    first = durable.start(instrument=inst, user="alice")
    second = durable.start(instrument=inst, user="bob")
    assert second.created is False and second.queued is False
    assert second.session.session_identifier == first.session.session_identifier
    assert "already open" in second.message and "alice" in second.message
    assert session_events(db)[(first.session.session_identifier, "START")] == 1
    assert durable.pending_count() == 0


def test_bad_input_is_refused_and_nothing_is_kept(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    with pytest.raises(InvalidInput, match="user name"):
        durable.start(instrument=inst, user="a\nb")
    with moved_away(sqlite_db):  # even offline: bad input is never queued
        with pytest.raises(InvalidInput):
            durable.start(instrument=inst, user="")
    assert durable.outbox.items(states=tuple(EventState)) == []


def test_database_error_other_than_unreachable_is_raised_not_queued(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    durable = durable_for(str(empty))
    inst = Instrument(instrument_pid=TEM, display_name="TEM", timezone="UTC")
    with pytest.raises(SchemaError, match="NexusLIMS"):
        durable.start(instrument=inst, user="alice")
    assert durable.outbox.items(states=tuple(EventState)) == []  # nothing kept at all


# --- offline, then replay -------------------------------------------------------------------


def test_offline_start_and_end_are_kept_then_sent_in_order(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    with moved_away(sqlite_db):
        started = durable.start(instrument=inst, user="alice")
        assert (started.created, started.queued) == (True, True)
        assert started.message == QUEUED_START
        assert durable.find_open(TEM).session_identifier == started.session.session_identifier
        ended = durable.end(started.session)
        assert ended.queued and ended.message == QUEUED_END
        assert durable.find_open(TEM) is None
        assert durable.pending_count() == 2
        report = durable.sync()
        assert report.sent == 0 and report.pending == 2 and "cannot be" in report.error
        assert outbox_module.pending_events() == 2
    assert dump_session_log(sqlite_db) == []
    report = durable.sync()
    assert (report.sent, report.pending, report.conflicts, report.error) == (2, 0, (), None)
    sid = started.session.session_identifier
    # The original times, not the replay time.
    assert [r[3] for r in _rows(sqlite_db, sid)] == [
        started.session.start_text,
        ended.ended.isoformat(),
    ]
    assert_exactly_once(sqlite_db, {sid: "ended"})
    assert assert_pairing_holds(sqlite_db) == [(sid, TEM, "alice")]
    assert durable.sync().sent == 0  # a second replay sends nothing


def test_offline_start_refused_when_this_pc_runs_a_session(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    first = durable.start(instrument=inst, user="alice")
    with moved_away(sqlite_db):
        again = durable.start(instrument=inst, user="bob")
        assert again.created is False and again.queued is True
        assert again.session.session_identifier == first.session.session_identifier
        assert "cannot be reached" in again.message and "alice" in again.message
        assert durable.pending_count() == 0
        # End it offline and start anew: now allowed, both kept.
        replaced = durable.replace(
            first.session, end_at=timestamps.now_in(inst.timezone), user="bob"
        )
        assert replaced.queued and replaced.created and durable.pending_count() == 2
        found = durable.find_open(TEM)
        assert found.user == "bob" and found.kept_on_pc
    assert durable.sync().sent == 2
    assert_exactly_once(
        sqlite_db,
        {first.session.session_identifier: "ended", replaced.session.session_identifier: "open"},
    )
    assert durable.find_open(TEM).session_identifier == replaced.session.session_identifier


def test_identify_offline_uses_the_instrument_seen_last(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    with moved_away(sqlite_db):
        with pytest.raises(DatabaseUnavailable, match="has not reached the database before") as no:
            durable.identify(instrument=TEM)
    assert str(no.value).count("Check") == 1  # what to do is said once, by the cause
    # First, what the window shows at the step that failed ("Identifying the instrument").
    assert str(no.value).startswith("This PC does not know its instrument yet:")
    online = durable.identify(instrument=SEM)
    with moved_away(sqlite_db):
        offline = durable.identify(instrument=SEM)
    assert (offline.instrument_pid, offline.timezone, offline.display_name) == (
        online.instrument_pid,
        online.timezone,
        online.display_name,
    )


def test_missing_database_file_by_path_counts_as_unreachable(sqlite_db: str) -> None:
    durable = DurableLogger(sqlite_db, timeout=1.0)
    inst = durable.identify(instrument=TEM)
    with moved_away(sqlite_db):
        fresh = DurableLogger(sqlite_db, timeout=1.0)  # e.g. the next launch, share still down
        assert fresh.identify(instrument=TEM).instrument_pid == TEM
        outcome = fresh.start(instrument=inst, user="carol")
        assert outcome.queued
    assert durable.sync().sent == 1
    assert_exactly_once(sqlite_db, {outcome.session.session_identifier: "open"})


def test_replay_after_a_crash_between_commit_and_outbox_update(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    started = durable.start(instrument=inst, user="alice")
    real = Outbox.set_state

    def die_after_commit(self: Outbox, event_id: int, state: EventState, **kw: object):
        if state is EventState.SENT:
            raise KeyboardInterrupt  # the process dies: the database has the END, the outbox not
        return real(self, event_id, state, **kw)

    monkeypatch.setattr(Outbox, "set_state", die_after_commit)
    with pytest.raises(KeyboardInterrupt):
        durable.end(started.session)
    monkeypatch.setattr(Outbox, "set_state", real)
    sid = started.session.session_identifier
    assert session_events(db)[(sid, "END")] == 1
    assert durable.pending_count() == 1  # the END still looks unsent

    report = durable_for(db).sync()  # the next launch
    assert report.sent == 1 and report.conflicts == ()
    assert_exactly_once(db, {sid: "ended"})
    # Even forcing every event back in line writes nothing twice.
    for event in durable.outbox.items(states=tuple(EventState)):
        durable.outbox.set_state(event.id, EventState.PENDING)
    assert durable.sync().conflicts == ()
    assert_exactly_once(db, {sid: "ended"})
    assert_pairing_holds(db)


def test_events_are_replayed_in_order(db: str) -> None:
    """END of the old session before START of the next: otherwise the START would collide."""
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    old = durable.start(instrument=inst, user="alice").session
    queue_offline(durable, EventKind.END, old.session_identifier, T1, start_text=old.start_text)
    # T1 may be before the START written just now; keep the old session in the past instead.
    raw_execute(
        db,
        "UPDATE session_log SET timestamp = ? WHERE session_identifier = ?",
        (T0, old.session_identifier),
    )
    queue_offline(durable, EventKind.START, "s-new-1", T1, user="bob")
    queue_offline(durable, EventKind.END, "s-new-1", T2, user="bob", start_text=T1)
    queue_offline(durable, EventKind.START, "s-new-2", T2, user="carol")
    report = durable.sync()
    assert (report.sent, report.conflicts, report.pending) == (4, (), 0)
    assert_exactly_once(
        db, {old.session_identifier: "ended", "s-new-1": "ended", "s-new-2": "open"}
    )
    assert assert_pairing_holds(db) == sorted(
        [(old.session_identifier, TEM, "alice"), ("s-new-1", TEM, "bob")]
    )
    assert durable.find_open(TEM).session_identifier == "s-new-2"


def test_events_for_another_database_stay_for_it(db: str, tmp_path: Path) -> None:
    durable = durable_for(db)
    other = DurableLogger(str(tmp_path / "elsewhere.sqlite"), outbox_path=durable.outbox.path)
    queue_offline(other, EventKind.START, "s-elsewhere", T0)
    assert durable.sync().sent == 0
    assert durable.pending_count() == 0 and other.pending_count() == 1
    assert dump_session_log(db) == []


def test_database_key_ignores_spelling_and_password(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    assert database_key(str(path)) == database_key(f"sqlite:///{path}")
    assert database_key("postgresql://u:secret@h:5432/db") == database_key(
        "postgresql+psycopg://u:other@h:5432/db"
    )
    assert "secret" not in database_key("postgresql://u:secret@h:5432/db")


# --- conflicts --------------------------------------------------------------------------------


def test_start_while_another_session_was_opened_is_held_then_written_whole(db: str) -> None:
    durable = durable_for(db)
    durable.identify(instrument=TEM)
    queue_offline(durable, EventKind.START, "s-offline", T0, user="alice", note="sample A")
    other = lifecycle.start_session(instrument=TEM, user="bob", engine=db)  # another PC

    report = durable.sync()
    [conflict] = report.conflicts
    assert conflict.kind is ConflictKind.START_WHILE_OPEN
    assert other.session.session_identifier in conflict.message
    # Said as it is known: open in the database, not when it was opened.
    assert "is open on the instrument in the database" in conflict.message
    assert report.pending == 1 and durable.pending_count() == 1
    assert session_events(db)[("s-offline", "START")] == 0  # never two open sessions
    # The database is the truth: the open session is bob's. The window that kept the START
    # still holds its own session, and can end it.
    assert durable.find_open(TEM).session_identifier == other.session.session_identifier
    [held] = durable.pending_events()
    mine = durable.finder.session_from_event(held)
    assert mine.session_identifier == "s-offline" and mine.user == "alice"

    ended = durable.end(mine, at=timestamps.parse(T1))
    assert not ended.queued
    assert [r[:3] for r in _rows(db, "s-offline")] == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    assert _rows(db, "s-offline")[0][3] == T0
    assert lifecycle.get_note("s-offline", engine=db) == "sample A"
    assert lifecycle.find_open_session(TEM, engine=db).session_identifier == (
        other.session.session_identifier
    )
    assert durable.pending_count() == 0
    [still] = durable.conflicts()
    assert still.id == conflict.id and "written together" in still.message
    assert assert_pairing_holds(db) == [("s-offline", TEM, "alice")]
    durable.resolve_conflict(conflict.id, by="staff", note="overlap checked")
    assert durable.conflicts() == []


def test_end_whose_start_is_missing_recreates_the_start(db: str) -> None:
    durable = durable_for(db)
    durable.identify(instrument=TEM)
    queue_offline(durable, EventKind.END, "s-lost", T1, user="dana", start_text=T0, note="n")
    report = durable.sync()
    [conflict] = report.conflicts
    assert conflict.kind is ConflictKind.END_WITHOUT_START and report.sent == 1
    assert "re-created" in conflict.message
    assert _rows(db, "s-lost") == [
        ("START", "TO_BE_BUILT", "dana", T0),
        ("END", "TO_BE_BUILT", "dana", T1),
    ]
    assert assert_pairing_holds(db) == [("s-lost", TEM, "dana")]
    assert durable.pending_count() == 0 and durable.sync().sent == 0
    assert_exactly_once(db, {"s-lost": "ended"})


def test_a_retry_leaves_open_a_conflict_its_own_sending_found(sqlite_db: str) -> None:
    """A retried END held for an unknown instrument was sent, and its START re-created (a
    conflict of its own): the retry marked that new conflict handled too, hiding the
    re-created session from staff."""
    durable = durable_for(sqlite_db)
    durable.identify(instrument=TEM)
    event = queue_offline(
        durable, EventKind.END, "s-late", T1, user="dana", start_text=T0, pid="TEST-XXX-405"
    )
    [held] = durable.sync().conflicts
    assert held.kind is ConflictKind.REJECTED
    add_instrument("TEST-XXX-405", display_name="new", timezone="UTC", engine=sqlite_db)
    report = durable.retry(event.id)
    [found] = report.conflicts
    assert found.kind is ConflictKind.END_WITHOUT_START and report.sent == 1
    assert [c.id for c in durable.conflicts()] == [found.id]  # the new one stays open
    assert {c.id for c in durable.conflicts(include_handled=True)} == {held.id, found.id}


def test_retrying_a_held_start_sends_its_held_end_too(sqlite_db: str) -> None:
    """A START refused (here: its instrument unknown) holds its END behind it. Retried as its
    conflict said, the START alone was written: the session stayed open in the database and
    blocked the instrument until someone retried the END as well."""
    durable = durable_for(sqlite_db)
    durable.identify(instrument=TEM)
    start = queue_offline(durable, EventKind.START, "s-both", T0, pid="TEST-XXX-406")
    end = queue_offline(durable, EventKind.END, "s-both", T1, start_text=T0, pid="TEST-XXX-406")
    durable.sync()
    assert durable.outbox.get(start.id).state is EventState.HELD
    assert durable.outbox.get(end.id).state is EventState.HELD
    add_instrument("TEST-XXX-406", display_name="new", timezone="UTC", engine=sqlite_db)
    assert durable.retry(start.id).sent == 2
    assert_exactly_once(sqlite_db, {"s-both": "ended"})
    assert durable.pending_count() == 0 and durable.conflicts() == []


def test_end_without_start_and_without_start_time_is_held(db: str) -> None:
    durable = durable_for(db)
    event = queue_offline(durable, EventKind.END, "s-unknown", T1, start_text=None)
    [conflict] = durable.sync().conflicts
    assert conflict.kind is ConflictKind.END_WITHOUT_START and "kept on this PC" in conflict.message
    assert durable.outbox.get(event.id).state is EventState.HELD
    assert dump_session_log(db) == []
    assert durable.pending_count() == 1
    durable.resolve_conflict(conflict.id)
    assert durable.pending_count() == 0
    assert durable.outbox.get(event.id).state is EventState.SKIPPED


def test_end_of_a_session_staff_force_ended_keeps_the_staff_end(db: str) -> None:
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    sid = session.session_identifier
    staff_end = session.started + timedelta(minutes=5)
    lifecycle.end_session(session_identifier=sid, at=staff_end, engine=db)  # force-end
    mine = queue_offline(
        durable,
        EventKind.END,
        sid,
        timestamps.to_db(session.started + timedelta(minutes=50), inst.timezone),
        start_text=session.start_text,
    )
    [conflict] = durable.sync().conflicts
    assert conflict.kind is ConflictKind.END_ALREADY_RECORDED
    assert durable.outbox.get(mine.id).state is EventState.SKIPPED
    assert durable.pending_count() == 0
    assert_exactly_once(db, {sid: "ended"})
    assert timestamps.parse(_rows(db, sid)[1][3]) == staff_end
    assert [c.id for c in durable.conflicts()] == [conflict.id]  # visible until handled
    assert_pairing_holds(db)


def test_live_end_of_a_force_ended_session_tells_the_user(db: str) -> None:
    durable = durable_for(db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    lifecycle.end_session(session_identifier=session.session_identifier, engine=db)
    outcome = durable.end(session, at=session.started)  # another end time than staff's
    assert not outcome.queued and "already been ended" in outcome.message
    assert durable.conflicts() == [] and durable.pending_count() == 0
    assert_exactly_once(db, {session.session_identifier: "ended"})


def test_event_the_database_refuses_is_held_and_can_be_retried(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    event = queue_offline(durable, EventKind.START, "s-gone", T0, pid="TEST-XXX-404")
    later = queue_offline(durable, EventKind.START, "s-fine", T0, pid=SEM, tz="Europe/Berlin")
    report = durable.sync()
    [conflict] = report.conflicts
    assert conflict.kind is ConflictKind.REJECTED and "TEST-XXX-404" in conflict.message
    assert f"--retry {event.id}" in conflict.message
    assert report.sent == 1  # the next event was not held back
    assert durable.outbox.get(later.id).state is EventState.SENT
    assert durable.outbox.get(event.id).state is EventState.HELD
    assert durable.sync().sent == 0  # held: not retried by itself

    add_instrument("TEST-XXX-404", display_name="new", timezone="UTC", engine=sqlite_db)
    assert durable.retry(event.id).sent == 1
    assert_exactly_once(sqlite_db, {"s-gone": "open", "s-fine": "open"})
    # Sent: its conflict is handled (windows said "Staff attention needed" for good).
    assert durable.conflicts() == []
    (handled,) = durable.conflicts(include_handled=True)
    assert (
        handled.id == conflict.id and handled.handled_note == f"sent by a retry of event {event.id}"
    )


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_replays_on_one_pc_never_duplicate(db: str) -> None:
    first = durable_for(db, timeout=10.0, lock_wait=30.0)
    for i in range(10):
        start = f"2025-03-0{1 + i % 9}T0{i % 10}:00:00-05:00"
        pid = ("TEST-TEM-001", "TEST-SEM-002")[i % 2]
        tz = ("America/New_York", "Europe/Berlin")[i % 2]
        queue_offline(first, EventKind.START, f"s-{i}", start, pid=pid, tz=tz)
        queue_offline(
            first,
            EventKind.END,
            f"s-{i}",
            start.replace("00:00-05", "30:00-05"),
            pid=pid,
            tz=tz,
            start_text=start,
        )
    loggers = [first] + [
        durable_for(db, timeout=10.0, lock_wait=30.0, outbox_path=first.outbox.path)
        for _ in range(2)
    ]
    reports = []
    barrier = threading.Barrier(len(loggers))

    def run(logger: DurableLogger) -> None:
        barrier.wait()
        reports.append(logger.sync())

    threads = [threading.Thread(target=run, args=(lg,)) for lg in loggers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in reports) == 20
    assert all(r.conflicts == () for r in reports)
    assert_exactly_once(db, {f"s-{i}": "ended" for i in range(10)})
    assert len(assert_pairing_holds(db)) == 10


def test_ending_twice_offline_keeps_one_end_and_no_conflict(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    with moved_away(sqlite_db):
        first = durable.end(session)
        second = durable.end(session)  # a second click, or the script run again
        assert first.queued and second.queued and second.ended == first.ended
        assert durable.pending_count() == 1
    report = durable.sync()
    assert (report.sent, report.conflicts) == (1, ())
    again = durable.end(session)
    assert not again.queued
    assert_exactly_once(sqlite_db, {session.session_identifier: "ended"})


def test_end_before_the_start_is_refused_before_anything_is_kept(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    session = durable.start(instrument=durable.identify(instrument=TEM), user="alice").session
    with moved_away(sqlite_db), pytest.raises(InvalidInput, match="before the session started"):
        durable.end(session, at=session.started - timedelta(minutes=1))
    assert durable.pending_count() == 0


def test_file_moved_in_the_middle_of_the_end_transaction(sqlite_db: str) -> None:
    """Found by the soak test: SQLite refuses to write to a file renamed after the transaction
    began (SQLITE_READONLY_DBMOVED); that is a share that dropped, not a permission problem."""
    durable = durable_for(sqlite_db)
    session = durable.start(instrument=durable.identify(instrument=TEM), user="alice").session
    away = Path(sqlite_db + ".away")
    engine = durable.engine()

    moved = []

    def move_away_once(conn: Connection) -> None:  # runs right after BEGIN IMMEDIATE
        if conn.get_execution_options().get("nexus_write") and not moved:
            moved.append(True)
            Path(sqlite_db).rename(away)

    sa_event.listen(engine, "begin", move_away_once)
    try:
        ended = durable.end(session)
    finally:
        sa_event.remove(engine, "begin", move_away_once)
    assert moved
    assert ended.queued and ended.message == QUEUED_END
    away.rename(sqlite_db)
    assert [r[:2] for r in _rows(sqlite_db, session.session_identifier)] == [
        ("START", "WAITING_FOR_END")
    ]
    assert durable.sync().sent == 1
    assert_exactly_once(sqlite_db, {session.session_identifier: "ended"})
    assert_pairing_holds(sqlite_db)


def test_sync_report_says_what_waits_and_what_is_held(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    held = queue_offline(durable, EventKind.END, "s-nostart", T1, start_text=None)
    report = durable.sync()
    assert (report.pending, report.held, report.sent) == (1, 1, 0)
    assert "1 conflict found" in report.message
    assert "1 event held on this PC because of a conflict" in report.message
    assert "still waiting" not in report.message
    with moved_away(sqlite_db):
        queue_offline(durable, EventKind.START, "s-next", T2)
        report = durable.sync()
        assert (report.pending, report.held) == (2, 1)
        assert report.message.startswith("1 event still waiting: The database ")
    durable.resolve_conflict(durable.conflicts()[0].id)
    assert durable.outbox.get(held.id).state is EventState.SKIPPED
    report = durable.sync()
    assert report.message == "Sent 1 saved event." and report.complete
    assert durable.sync().message == "Nothing waits to be sent to this database."


def test_note_typed_while_offline_is_written_with_the_replayed_end(tmp_path: Path) -> None:
    import dataclasses

    db = populate(str(tmp_path / "db.sqlite"))
    logger = durable_for(db)
    session = logger.start(instrument=logger.identify(instrument=TEM), user="alice").session
    with moved_away(db):
        outcome = logger.end(dataclasses.replace(session, note="EELS maps of sample 7b"))
        assert outcome.queued
    logger.sync()
    assert lifecycle.get_note(session.session_identifier, engine=db) == "EELS maps of sample 7b"
    assert_pairing_holds(db)


def test_offline_open_session_keeps_its_local_heartbeat(tmp_path: Path) -> None:
    db = populate(str(tmp_path / "db.sqlite"))
    logger = durable_for(db)
    inst = logger.identify(instrument=TEM)
    session = logger.start(instrument=inst, user="alice").session
    with moved_away(db):
        alive = lifecycle.record_local_heartbeat(session.session_identifier, inst)
        found = logger.find_open(TEM)
        assert found is not None and found.session_identifier == session.session_identifier
        assert found.last_heartbeat == alive
        # a START still waiting in the outbox knows its local heartbeat too
        logger.end(found)
        waiting = logger.start(instrument=inst, user="bob").session
        alive2 = lifecycle.record_local_heartbeat(waiting.session_identifier, inst)
        found2 = logger.find_open(TEM)
        assert found2 is not None and found2.session_identifier == waiting.session_identifier
        assert found2.last_heartbeat == alive2


def test_offline_start_overlapping_a_session_logged_meanwhile_is_held(tmp_path: Path) -> None:
    """Another PC opened and closed a session while this PC's START waited: held, not written."""
    db = populate(str(tmp_path / "db.sqlite"))
    logger = durable_for(db)
    inst = logger.identify(instrument=TEM)
    now = timestamps.now_in(inst.timezone)
    with moved_away(db):
        mine = logger.start(instrument=inst, user="alice", at=now - timedelta(hours=2)).session
    other = lifecycle.start_session(
        instrument=TEM, user="bob", at=now - timedelta(hours=1), engine=db
    ).session
    lifecycle.end_session(
        session_identifier=other.session_identifier, at=now - timedelta(minutes=30), engine=db
    )
    report = logger.sync()
    assert [c.kind for c in report.conflicts] == [ConflictKind.OVERLAP]
    conflict = logger.conflicts()[0]
    assert (
        mine.session_identifier in conflict.message and other.session_identifier in conflict.message
    )
    assert session_events(db)[(mine.session_identifier, "START")] == 0
    # Its END is kept too: written, the session would overlap bob's.
    outcome = logger.end(mine)
    assert outcome.queued and "conflicts" in outcome.message
    # Not in the database: no Admin tab shows it, and the sentence does not promise one.
    assert "Tell facility staff" in outcome.message and "Admin tab" not in outcome.message
    assert "nexus-logger" not in outcome.message  # shown in the window too: no command line
    assert [c.kind for c in logger.conflicts()] == [ConflictKind.OVERLAP, ConflictKind.OVERLAP]
    assert logger.pending_count() == 2
    assert {s[0] for s in assert_pairing_holds(db)} == {other.session_identifier}


def test_offline_start_after_a_finished_session_is_no_conflict(tmp_path: Path) -> None:
    db = populate(str(tmp_path / "db.sqlite"))
    logger = durable_for(db)
    inst = logger.identify(instrument=TEM)
    now = timestamps.now_in(inst.timezone)
    earlier = lifecycle.start_session(
        instrument=TEM, user="bob", at=now - timedelta(hours=3), engine=db
    ).session
    lifecycle.end_session(
        session_identifier=earlier.session_identifier, at=now - timedelta(hours=2), engine=db
    )
    with moved_away(db):
        logger.start(instrument=inst, user="alice", at=now - timedelta(hours=1))
    assert list(logger.sync().conflicts) == []


def _immutable(folder: Path, on: bool) -> bool:
    """``chattr +i``/``-i``: a folder even root cannot create files in; False where refused."""
    done = subprocess.run(["chattr", "+i" if on else "-i", str(folder)], capture_output=True)
    return done.returncode == 0


def _on_a_share(sqlite_db: str) -> tuple[Path, Path, DurableLogger]:
    """A copy of the database in a folder of its own (to be made immutable), its logger."""
    folder = Path(sqlite_db).parent / "share"
    folder.mkdir()
    path = folder / "nexuslims.sqlite"
    shutil.copyfile(sqlite_db, path)
    durable = DurableLogger(str(path), outbox_path=folder.parent / "outbox.sqlite", timeout=1.0)
    return folder, path, durable


def test_a_folder_that_refuses_new_files_is_read_only_not_away(sqlite_db: str) -> None:
    """The file may be written but its folder refuses SQLite's journal: a START is refused as
    read-only (exit 6), never kept on this PC as if the database were away.

    A folder that refuses with EPERM (here an immutable one; on Windows a folder whose ACL
    denies creating files) makes SQLite say "unable to open database file", the same words
    as for a share that went away; permission bits (EACCES) make it say "readonly database".
    """
    folder, path, durable = _on_a_share(sqlite_db)
    inst = durable.identify(instrument=TEM)
    before = path.read_bytes()
    if not _immutable(folder, True):
        pytest.skip("chattr +i is refused here (not root, or the file system has no such flag)")
    try:
        with pytest.raises(DatabaseReadOnly, match="its folder does not let this account"):
            durable.start(instrument=inst, user="carol")
        assert durable.pending_count() == 0  # nothing kept on this PC
    finally:
        _immutable(folder, False)
    assert path.read_bytes() == before
    assert DatabaseReadOnly.exit_code == 6


def test_an_end_refused_by_a_read_only_database_waits_and_goes_once_it_is_writable(
    sqlite_db: str,
) -> None:
    """The database answers but refuses writes (a read-only share, here an immutable file and
    folder): the END is kept on this PC with that reason, not as a conflict nobody made, and
    it is sent by the next sync once the database takes writes again."""
    folder, path, durable = _on_a_share(sqlite_db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    if not (_immutable(path, True) and _immutable(folder, True)):
        _immutable(path, False)
        pytest.skip("chattr +i is refused here (not root, or the file system has no such flag)")
    try:
        outcome = durable.end(session)
        assert outcome.queued
        assert outcome.message.startswith("The database refuses changes right now")
        assert "cannot be reached" not in outcome.message
        report = durable.sync()
        assert (report.sent, report.held, list(report.conflicts)) == (0, 0, [])
        # The database answers: nothing here acts as if it were away. Alice's session is
        # ended as this PC knows it; a new START gets the database's own answer (alice's
        # START is still open there) and is not kept on this PC as if it were unreachable.
        assert durable.find_open(TEM) is None and durable.offline_reason is None
        bob = durable.start(instrument=inst, user="bob")
        assert not bob.queued and not bob.created and "cannot be reached" not in bob.message
        # Not "a session is already open, end it first" (ending it again finds nothing open):
        # it was ended here, and its END waits for the database.
        assert bob.end_waits_here and "has not taken its END yet" in bob.message
    finally:
        _immutable(folder, False)
        _immutable(path, False)
    assert durable.pending_count() == 1
    assert durable.sync().sent == 1  # at the first try: no connection kept read-only
    assert durable.pending_count() == 0 and not durable.outbox.conflicts()
    rows = _rows(str(path), session.session_identifier)
    assert [r[0] for r in rows] == ["START", "END"]


def test_an_end_with_a_note_the_database_would_refuse_is_refused_first(sqlite_db: str) -> None:
    """The note goes with the END: too long, it is refused with its reason before anything is
    kept (a kept END with that note could never be sent, and was held as a 'conflict')."""
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    too_long = dataclasses.replace(session, note="x" * 2100)
    with pytest.raises(InvalidInput, match="2100 characters"):
        durable.end(too_long)
    assert durable.pending_count() == 0 and durable.conflicts() == []
    assert lifecycle.find_open_session(TEM, engine=sqlite_db) is not None
    assert not durable.end(session).queued
    assert lifecycle.find_open_session(TEM, engine=sqlite_db) is None


def test_the_command_line_says_a_new_start_waits_for_the_end_kept_here(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """After an END the read-only database refused (kept on this PC), 'session start' said
    "a session is already open... end it first", and 'session end' then said none was open."""
    from nexus_logger.cli import main

    folder, path, _durable = _on_a_share(sqlite_db)
    common = ["--db", str(path), "--instrument", TEM]
    assert main(["session", "start", *common, "--user", "alice"]) == 0
    if not (_immutable(path, True) and _immutable(folder, True)):
        _immutable(path, False)
        pytest.skip("chattr +i is refused here (not root, or the file system has no such flag)")
    try:
        assert main(["session", "end", *common, "--user", "alice"]) == 3  # kept on this PC
        capsys.readouterr()
        assert main(["session", "start", *common, "--user", "bob"]) == 4
        said = capsys.readouterr()
        assert "has not taken its END yet" in said.out + said.err
        assert "End it first" not in said.out + said.err
    finally:
        _immutable(folder, False)
        _immutable(path, False)


def test_a_share_remounted_read_only_is_read_only_not_away(sqlite_db: str, tmp_path: Path) -> None:
    """A write on a share remounted read-only under an open connection fails as "unable to
    open database file" (its journal cannot be made), the words SQLite uses for a share that
    went away too. The folder then refuses new files with EROFS, not EACCES: it was taken for
    unreachable, and the window said "The database cannot be reached" about a share it could
    read. (The remount itself needs no file of it open for writing, so the error is given
    to the check here as SQLite gives it.)"""
    import sqlite3

    from nexus_logger.core.db.engine import _folder_refusal, get_engine
    from nexus_logger.core.errors import DatabaseReadOnly

    share, view = tmp_path / "share", tmp_path / "view"
    share.mkdir()
    view.mkdir()
    shutil.copyfile(sqlite_db, share / "nexuslims.sqlite")
    if subprocess.run(["mount", "--bind", str(share), str(view)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here (not root, or no mount namespace)")
    try:
        remount = ["mount", "-o", "remount,ro,bind", str(view)]
        done = subprocess.run(remount, capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
        engine = get_engine(str(view / "nexuslims.sqlite"))
        said = _folder_refusal(engine, sqlite3.OperationalError("unable to open database file"))
        assert isinstance(said, DatabaseReadOnly), said
        # No right on the folder would help: the sentence says what would.
        assert "mounted read-only" in str(said) and "permission" not in str(said).lower()
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True)


def test_a_status_check_between_the_windows_keep_and_end_leaves_that_end_to_the_window(
    tmp_path: Path,
) -> None:
    """The window keeps the END at the click, then queues its sending behind jobs already
    queued, such as a status check. That check sent the END as one nobody watches: a session
    staff had ended got a staff conflict besides the user's answer, and the window's end()
    then kept and sent a second END. It now stops at that END and leaves it to end()."""
    db = populate(str(tmp_path / "db.sqlite"))
    for staff_ended in (False, True):
        durable = durable_for(db, outbox_path=tmp_path / f"outbox-{staff_ended}.sqlite")
        inst = durable.identify(instrument=TEM)
        session = durable.start(instrument=inst, user="alice").session
        if staff_ended:
            lifecycle.end_session(
                session_identifier=session.session_identifier,
                at=session.started + timedelta(seconds=1),
                engine=db,
            )
        kept = durable.keep_end(session)  # at the click, beside the worker
        assert kept is not None
        report = durable.sync()  # the status check queued before the END's job
        assert report.sent == 0 and durable.pending_count() == 1
        outcome = durable.end(session, at=kept.at)  # the END's job
        ends = [
            e
            for e in durable.outbox.items(
                states=tuple(EventState), session_identifier=session.session_identifier
            )
            if e.kind is EventKind.END
        ]
        assert [e.id for e in ends] == [kept.id], staff_ended
        assert durable.conflicts() == [], staff_ended
        assert ("already been ended" in outcome.message) is staff_ended
        assert durable.pending_count() == 0


@pytest.mark.parametrize("stand_in", [b"", b"\x8f random bytes, no SQLite header" * 200])
def test_an_end_while_the_file_is_no_database_waits_and_goes_once_it_is_back(
    sqlite_db: str, stand_in: bytes
) -> None:
    """The database file was replaced (empty, or not SQLite at all: a copy half-done, a restore)
    when End was clicked. The END was held as a conflict for staff, so nobody could start or
    end a session on the instrument until `sync --retry`. It now waits on this PC, as for a
    database that cannot be reached, and goes at the next sending once the file is back."""
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    real = Path(sqlite_db).with_suffix(".real")
    Path(sqlite_db).rename(real)
    Path(sqlite_db).write_bytes(stand_in)
    try:
        outcome = durable.end(session)
        assert outcome.queued
        assert outcome.message.startswith("The database cannot be used right now: ")
        assert outcome.message.endswith(
            "The session end is saved on this PC and will be sent automatically once it can be."
        )
        assert "init-db" not in outcome.message  # no command line for the person at the PC
        report = durable.sync()
        assert (report.sent, report.held, list(report.conflicts)) == (0, 0, [])
        assert not durable.outbox.conflicts()
        if not stand_in:  # staff read first to put the file back, not to make a new one
            assert "If it held them until now, it was emptied or replaced" in report.error
    finally:
        Path(sqlite_db).unlink()
        real.rename(sqlite_db)
    assert durable.sync().sent == 1
    assert durable.pending_count() == 0 and not durable.outbox.conflicts()
    assert [r[0] for r in _rows(sqlite_db, session.session_identifier)] == ["START", "END"]


def test_a_start_at_the_moment_asked_comes_after_sessions_that_finished_meanwhile(
    sqlite_db: str,
) -> None:
    """The START now takes the moment asked, which may lie seconds back: a session another
    writer logged whole meanwhile (from its PC's outbox, a force-end: no claim row says its
    END) ended after that moment, and the START overlapped it."""
    from datetime import UTC, datetime

    from tests.helpers_admin import insert_rows

    inst = lifecycle.identify_instrument(instrument=TEM, engine=sqlite_db)
    asked = datetime.now(UTC) - timedelta(seconds=5)
    ended = asked + timedelta(seconds=2)
    insert_rows(
        sqlite_db,
        [
            ("bobs", TEM, (asked - timedelta(hours=1)).isoformat(), "START", "TO_BE_BUILT", "bob"),
            ("bobs", TEM, ended.isoformat(), "END", "TO_BE_BUILT", "bob"),
        ],
    )
    result = lifecycle.start_session(
        instrument=inst.instrument_pid, user="alice", engine=sqlite_db, asked_at=asked
    )
    assert result.created
    assert result.session.started == ended  # after bob's END, not at the moment asked


@pytest.mark.parametrize("lock_for", [1.5, 6.0])
def test_a_start_that_waited_on_a_locked_database_is_at_the_moment_asked(
    sqlite_db: str, lock_for: float, caplog: pytest.LogCaptureFixture
) -> None:
    """Another program held the file locked: the START was read once the lock was had (or,
    past the timeout, once kept on this PC), so the session began that much later than the
    person asked, and NexusLIMS would not take the files of those first seconds. Written
    (1.5 s lock, 4 s timeout) or kept here (6 s lock), it is now the moment asked."""
    from datetime import UTC, datetime

    caplog.set_level("INFO", logger="nexus_logger.core.sessions.starting")
    durable = durable_for(sqlite_db, timeout=4.0)
    inst = durable.identify(instrument=TEM)
    locker = sqlite3.connect(sqlite_db, check_same_thread=False, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(lock_for, locker.rollback)
    release.start()
    try:
        asked = datetime.now(UTC)
        outcome = durable.start(instrument=inst, user="alice")
        answered = datetime.now(UTC)
    finally:
        release.join()
        locker.close()
    assert outcome.queued is (lock_for > 4.0) and (outcome.created or outcome.queued)
    assert (answered - asked).total_seconds() >= min(lock_for, 4.0) - 0.1  # it did wait
    assert abs((outcome.session.started - asked).total_seconds()) < 0.5
    if outcome.queued:
        assert durable.sync().sent == 1
    (row,) = [r for r in _rows(sqlite_db, outcome.session.session_identifier) if r[0] == "START"]
    assert row[3] == outcome.session.start_text  # (event, status, user, timestamp)
    if not outcome.queued:  # the log says the stored time (it said the moment of the commit)
        assert f"for alice at {row[3]}" in caplog.text


def test_a_session_open_in_another_database_is_not_this_ones(
    sqlite_db: str, tmp_path: Path
) -> None:
    """A PC logs to a test database and to the real one. The real one is away: the offline
    start found the test database's open session ("this PC knows a session open on TEM"),
    and ending it wrote that session into the real database."""
    test_db = str(tmp_path / "test.sqlite")
    shutil.copyfile(sqlite_db, test_db)
    trial = durable_for(test_db)
    trainer = trial.start(instrument=trial.identify(instrument=TEM), user="trainer")
    assert trainer.created
    real = durable_for(sqlite_db)
    inst = real.identify(instrument=TEM)
    with moved_away(sqlite_db):
        alice = real.start(instrument=inst, user="alice")
    assert alice.queued and alice.session.user == "alice"
    assert alice.session.session_identifier != trainer.session.session_identifier
    # The test database's session is still known to this PC for the test database.
    with moved_away(test_db):
        known = trial.find_open(TEM)
    assert known is not None and known.session_identifier == trainer.session.session_identifier
