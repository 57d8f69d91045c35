"""Several processes at once: racing STARTs, and a process killed mid-session.

Processes are made with the *spawn* start method (the only one Windows has), so nothing is
inherited but the environment: each child opens the database itself, as a second PC would.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
from datetime import datetime

import pytest

from nexus_logger.core import get_sessions_to_build
from nexus_logger.core.sessions.lifecycle import (
    find_open_session,
    last_heartbeat,
    replace_session,
    start_session,
)
from tests.helpers_lifecycle import dump_database, race_start, start_then_hang, starts_on

RACERS = 8
PID = "TEST-SEM-002"

pytestmark = pytest.mark.slow


def test_racing_starts_give_exactly_one_session(db: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(RACERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=race_start, args=(db, PID, f"racer{i}", barrier, results))
        for i in range(RACERS)
    ]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=90) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [g for g in got if g[4] is not None]
    assert not errors, errors
    winners = [g for g in got if g[1]]
    assert len(winners) == 1, got
    winner_user, _, ident, _, _ = winners[0]
    # Every loser got the winner's session back, with the winner's user.
    assert {(g[2], g[3]) for g in got} == {(ident, winner_user)}
    assert starts_on(db, PID) == [(ident, winner_user, "WAITING_FOR_END")]
    assert find_open_session(PID, engine=db).session_identifier == ident


def test_process_killed_mid_session_is_found_and_resumed(db: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=start_then_hang, args=(db, PID, "crashy", ready))
    child.start()
    try:
        ident, beat_text, error = ready.get(timeout=90)
    except queue.Empty:
        child.kill()
        raise
    assert error is None, error
    child.kill()  # SIGKILL on POSIX: no clean-up code runs in the child
    child.join(timeout=30)
    if sys.platform != "win32":
        assert child.exitcode == -9
    beat = datetime.fromisoformat(beat_text)

    # The next process (this one) finds the session and when it was last alive.
    found = find_open_session(PID, engine=db)
    assert found is not None
    assert (found.session_identifier, found.user) == (ident, "crashy")
    assert found.last_heartbeat == beat
    assert last_heartbeat(ident, engine=db) == beat

    # "Continue": carrying on with it writes nothing.
    before = dump_database(db)
    again = start_session(instrument=PID, user="next", engine=db)
    assert not again.created and again.session.session_identifier == ident
    assert dump_database(db) == before

    # "New session": the old one ends at its last heartbeat, a new one starts.
    result = replace_session(
        old_session_identifier=ident,
        end_at=found.last_heartbeat,
        instrument=PID,
        user="next",
        engine=db,
    )
    assert result.created and result.session.user == "next"
    built = get_sessions_to_build(engine=db)
    assert [(s.session_identifier, s.user, s.dt_to) for s in built] == [(ident, "crashy", beat)]
    assert find_open_session(PID, engine=db).session_identifier == result.session.session_identifier
