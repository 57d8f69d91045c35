"""Fault injection (issue 4, item 5): the database goes away mid-session and comes back.

After recovery every event is in the database exactly once, and NexusLIMS's pairing rules hold:
checked with our strict ``get_sessions_to_build`` and, on SQLite, with the real NexusLIMS 2.8.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from nexus_logger.core import timestamps
from nexus_logger.core.errors import DatabaseUnavailable
from nexus_logger.core.offline.durable import QUEUED_END, QUEUED_START
from nexus_logger.core.offline.outbox import ConflictKind, EventKind
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import find_open_session
from tests.helpers_outbox import (
    SEM,
    TEM,
    ExclusiveLock,
    assert_exactly_once,
    assert_pairing_holds,
    durable_for,
    moved_away,
    populate,
    queue_offline,
)
from tests.nexuslims_ref import nexuslims_sessions_to_build
from tests.pgcluster import PgCluster


def _nexuslims_agrees(python: Path, db: str, expected: list[tuple[str, str, str | None]]) -> None:
    result = nexuslims_sessions_to_build(python, Path(db))
    assert "error" not in result, result
    got = sorted((s["session_identifier"], s["instrument"], s["user"]) for s in result["sessions"])
    assert got == expected


def test_file_moved_away_between_start_and_end(sqlite_db: str, nexuslims_python: Path) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    first = durable.start(instrument=inst, user="alice")
    assert not first.queued

    with moved_away(sqlite_db):
        ended = durable.end(first.session)
        assert ended.queued and ended.message == QUEUED_END
        second = durable.start(instrument=durable.identify(instrument=TEM), user="bob")
        assert second.queued and second.created and second.message == QUEUED_START
        ended2 = durable.end(second.session)
        assert ended2.queued
        third = durable.start(instrument=inst, user="carol")
        assert durable.pending_count() == 4
        assert durable.sync().pending == 4  # still away: nothing lost, nothing sent

    report = durable.sync()
    assert (report.sent, report.pending, report.conflicts) == (4, 0, ())
    assert durable.sync().sent == 0  # replaying again changes nothing
    a, b, c = (x.session.session_identifier for x in (first, second, third))
    assert_exactly_once(sqlite_db, {a: "ended", b: "ended", c: "open"})
    expected = sorted([(a, TEM, "alice"), (b, TEM, "bob")])
    assert assert_pairing_holds(sqlite_db) == expected
    _nexuslims_agrees(nexuslims_python, sqlite_db, expected)
    assert find_open_session(TEM, engine=sqlite_db).user == "carol"


def test_file_locked_by_another_process_past_the_timeout(
    sqlite_db: str, nexuslims_python: Path
) -> None:
    durable = durable_for(sqlite_db, timeout=1.0)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session

    with ExclusiveLock(sqlite_db) as holder:
        t = time.monotonic()
        ended = durable.end(session)
        waited = time.monotonic() - t
        assert ended.queued and ended.message == (
            # The lock, not "cannot be reached": IT looks for the program holding it.
            "The database is locked by another program right now. The session end is saved "
            "on this PC and will be sent automatically."
        )
        assert 0.9 <= waited < 10, waited  # it waited for the lock, then gave up and kept it
        kept = durable.start(instrument=inst, user="bob")  # (alice's END waits: bob's START)
        assert kept.queued and kept.message.startswith(
            "The database is locked by another program right now. The session start is saved"
        )
        report = durable.sync()
        assert report.pending == 2 and "locked" in report.error
        holder.release()

    report = durable.sync()
    assert (report.sent, report.pending) == (2, 0)
    sid = session.session_identifier
    assert_exactly_once(sqlite_db, {sid: "ended", kept.session.session_identifier: "open"})
    assert assert_pairing_holds(sqlite_db) == [(sid, TEM, "alice")]
    _nexuslims_agrees(nexuslims_python, sqlite_db, [(sid, TEM, "alice")])


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_server_stopped_after_start_and_restarted_after_end(
    own_cluster: PgCluster,
) -> None:
    url = populate(own_cluster.create_database("outbox"))
    durable = durable_for(url, timeout=2.0)
    inst = durable.identify(instrument=TEM)
    first = durable.start(instrument=inst, user="alice")
    assert not first.queued

    own_cluster.stop()
    with pytest.raises(DatabaseUnavailable):
        find_open_session(TEM, engine=durable.engine())
    ended = durable.end(first.session)
    assert ended.queued and ended.message == QUEUED_END
    second = durable.start(instrument=durable.identify(instrument=TEM), user="bob")
    assert second.queued and second.created
    assert durable.find_open(TEM).session_identifier == second.session.session_identifier
    assert durable.pending_count() == 2

    own_cluster.start()
    report = durable.sync()
    assert (report.sent, report.pending, report.conflicts) == (2, 0, ())
    assert durable.sync().sent == 0
    a, b = first.session.session_identifier, second.session.session_identifier
    assert_exactly_once(url, {a: "ended", b: "open"})
    assert assert_pairing_holds(url) == [(a, TEM, "alice")]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_server_restarted_between_two_clicks_is_not_called_unreachable(
    own_cluster: PgCluster,
) -> None:
    """The pool hands out kept connections without a ping round trip; one whose server went
    away (restart, failover) is noticed before use and replaced, so the next START is
    written, not wrongly "saved on this PC". At once and after a pause."""
    url = populate(own_cluster.create_database("restart"))
    durable = durable_for(url, timeout=2.0)
    inst = durable.identify(instrument=TEM)
    for user in ("alice", "bob", "carol"):
        own_cluster.stop()
        own_cluster.start()
        began = durable.start(instrument=inst, user=user)
        assert not began.queued and began.created, began.message
        assert find_open_session(TEM, engine=durable.engine()).user == user
        assert not durable.end(began.session).queued
    assert durable.pending_count() == 0


def test_conflict_outcomes_leave_a_database_nexuslims_can_build(
    sqlite_db: str, nexuslims_python: Path
) -> None:
    """Each conflict outcome (docs/outbox.md) keeps the real NexusLIMS build run working."""
    durable = durable_for(sqlite_db)
    durable.identify(instrument=TEM)
    # start_while_open: a START kept offline, another PC opened a session meanwhile.
    queue_offline(durable, EventKind.START, "c1-offline", "2025-03-04T09:00:00-05:00")
    other = lifecycle.start_session(instrument=TEM, user="bob", engine=sqlite_db).session
    # end_without_start: an END whose START the database lost.
    queue_offline(
        durable,
        EventKind.END,
        "c2-lost",
        "2025-03-04T09:30:00+01:00",
        pid=SEM,
        tz="Europe/Berlin",
        user="dana",
        start_text="2025-03-04T08:00:00+01:00",
    )
    # end_already_recorded: staff force-ended a session this PC then ended offline.
    mine = lifecycle.start_session(instrument=SEM, user="erin", engine=sqlite_db).session
    staff_end = mine.started + timedelta(minutes=1)
    lifecycle.end_session(
        session_identifier=mine.session_identifier, at=staff_end, engine=sqlite_db
    )
    queue_offline(
        durable,
        EventKind.END,
        mine.session_identifier,
        timestamps.to_db(mine.started + timedelta(hours=1), "Europe/Berlin"),
        pid=SEM,
        tz="Europe/Berlin",
        user="erin",
        start_text=mine.start_text,
    )
    kinds = sorted(c.kind for c in durable.sync().conflicts)
    assert kinds == sorted(
        [
            ConflictKind.START_WHILE_OPEN,
            ConflictKind.END_WITHOUT_START,
            ConflictKind.END_ALREADY_RECORDED,
        ]
    )
    # The held START's user ends the session on this PC (the window still holds it).
    [held] = [e for e in durable.pending_events() if e.session_identifier == "c1-offline"]
    kept = durable.finder.session_from_event(held)
    durable.end(kept, at=timestamps.parse("2025-03-04T10:00:00-05:00"))
    expected = sorted(
        [
            ("c1-offline", TEM, "alice"),
            ("c2-lost", SEM, "dana"),
            (mine.session_identifier, SEM, "erin"),
        ]
    )
    assert assert_pairing_holds(sqlite_db) == expected
    _nexuslims_agrees(nexuslims_python, sqlite_db, expected)
    assert find_open_session(TEM, engine=sqlite_db).session_identifier == other.session_identifier
    assert_exactly_once(
        sqlite_db,
        {
            "c1-offline": "ended",
            "c2-lost": "ended",
            mine.session_identifier: "ended",
            other.session_identifier: "open",
        },
    )
