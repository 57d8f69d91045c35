"""What this PC keeps while the database is away: a START nobody was told about is never sent
as a session of long ago, and this PC's record of running sessions forgets an ended one and
gives the most recent first."""

from __future__ import annotations

from datetime import datetime, timedelta

from nexus_logger.core.db.models import Instrument
from nexus_logger.core.offline.outbox import EventKind, EventState
from nexus_logger.core.sessions import local_heartbeat as lh
from nexus_logger.core.sessions.lifecycle import find_open_session
from nexus_logger.core.sessions.outcomes import OpenSession
from tests.helpers_outbox import durable_for

TEM = "TEST-TEM-001"


def test_an_old_start_nobody_was_told_about_is_dropped_not_sent(sqlite_db: str) -> None:
    """The process died before the user saw "session started": hours later that START is no
    session anyone ran, and sending it would invent one."""
    durable = durable_for(sqlite_db)
    at = (datetime.now().astimezone() - timedelta(hours=3)).isoformat()
    event = durable.outbox.add(
        EventKind.START,
        database=durable.database_key,
        session_identifier="ghost",
        instrument_pid=TEM,
        timezone="America/New_York",
        at_text=at,
        user="alice",
        confirmed=False,
    )
    durable.sync()
    assert find_open_session(TEM, engine=sqlite_db) is None
    assert durable.outbox.get(event.id).state is EventState.SKIPPED


def test_an_ended_session_leaves_the_logins_own_record_too() -> None:
    """A login that once could not write the PC's folder kept the session in its own file:
    ending it must clear both, or it shows up as running the next time the database is away."""
    entry = {
        "instrument": TEM,
        "timezone": "UTC",
        "user": "alice",
        "started": datetime.now().astimezone().isoformat(),
    }
    lh._update(lh._own_file(), "s-own", entry)
    lh.update_local_file("s-own", entry)
    assert "s-own" in lh.read_local_file()
    lh.forget_open_here("s-own")
    assert "s-own" not in lh.read_local_file()
    assert lh.open_here(TEM) == []


def test_the_session_alive_most_recently_comes_last() -> None:
    """Offline, the session this PC continues is the last one :func:`open_here` gives: the
    one alive most recently, not an older entry still in the record."""
    inst = Instrument(instrument_pid=TEM, display_name="TEM", timezone="UTC")
    now = datetime.now().astimezone()
    for ident, hours in (("old", 30), ("new", 1)):
        started = now - timedelta(hours=hours + 1)
        lh.remember_open_here(
            OpenSession(
                session_identifier=ident,
                instrument=inst,
                user="alice",
                started=started,
                start_text=started.isoformat(),
                last_heartbeat=now - timedelta(hours=hours),
            )
        )
    assert [ident for ident, _ in lh.open_here(TEM)] == ["old", "new"]
