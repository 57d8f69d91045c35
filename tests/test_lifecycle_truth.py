"""The database is the one truth: times, the one-open-session rule, errors, sync's exit code.

Each test is one requirement of the lifecycle (docs/architecture.md): what is refused is
refused before anything is written, and what the user is told is what the database said.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.cli import main
from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import get_engine, write_transaction
from nexus_logger.core.db.pipeline import send_together
from nexus_logger.core.errors import (
    AccessDenied,
    ConfigError,
    Conflict,
    InvalidInput,
    SchemaError,
)
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventKind, EventState
from nexus_logger.core.sessions import lifecycle, open_rule
from nexus_logger.core.sessions.lifecycle import SessionsOverlap, find_open_session, start_session
from nexus_logger.core.sessions.time_rules import TimeRules, localize
from nexus_logger.core.staff import admin_actions
from nexus_logger.core.staff.problems import ProblemKind, find_problems
from tests.helpers_outbox import (
    TEM,
    ExclusiveLock,
    assert_exactly_once,
    durable_for,
    queue_offline,
    raw_execute,
    session_events,
)
from tests.rawdb import dump_session_log

NY = "America/New_York"


# --- times ------------------------------------------------------------------------------------


def test_dst_gap_and_fold_are_refused_with_both_readings() -> None:
    with pytest.raises(InvalidInput, match="does not exist") as gap:
        localize(datetime(2026, 3, 8, 2, 30), NY, "start time")
    assert "02:30-05:00 (= 03:30 EDT)" in str(gap.value)
    assert "02:30-04:00 (= 01:30 EST)" in str(gap.value)
    with pytest.raises(InvalidInput, match="happens twice") as fold:
        localize(datetime(2026, 11, 1, 1, 30), NY, "end time")
    assert "01:30-04:00" in str(fold.value) and "01:30-05:00" in str(fold.value)
    # An offset says which one is meant; an ordinary local time needs none.
    given = datetime(2026, 11, 1, 1, 30, tzinfo=timestamps.zone(NY), fold=1)
    assert localize(given, NY) is given
    assert localize(datetime(2026, 7, 1, 9, 0), NY).utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize("text", ["0001-01-01T00:00", "9999-12-31T23:59", "1969-12-31T23:00"])
def test_absurd_years_are_refused_cleanly(
    sqlite_db: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["session", "start", "--db", sqlite_db, "--instrument", TEM, "--at", text])
    err = capsys.readouterr().err
    assert code == 2 and "not a believable session time" in err and "Traceback" not in err
    assert dump_session_log(sqlite_db) == []


def test_start_in_the_future_is_refused_like_a_future_end(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["session", "start", "--db", sqlite_db, "--instrument", TEM, "--at", "2999-01-01T09:00"]
    )
    assert code == 2 and "is in the future" in capsys.readouterr().err
    assert dump_session_log(sqlite_db) == []
    soon = datetime.now(UTC) + timedelta(minutes=3)  # within the clock-skew tolerance
    assert start_session(instrument=TEM, user="a", at=soon, engine=sqlite_db).created
    with pytest.raises(InvalidInput, match="in the future"):
        lifecycle.start_session(
            instrument="TEST-SEM-002",
            user="a",
            at=soon,
            engine=sqlite_db,
            rules=TimeRules(skew=timedelta(minutes=1)),
        )


def test_typed_times_older_than_the_backfill_limit_are_refused(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    base = ["session", "start", "--db", sqlite_db, "--instrument", TEM, "--at", old]
    assert main(base) == 2
    assert "back-fill limit" in capsys.readouterr().err
    assert dump_session_log(sqlite_db) == []
    monkeypatch.setenv("NEXUS_LOGGER_BACKFILL_DAYS", "60")
    assert main(base) == 0


def test_back_dated_start_over_a_finished_session_is_refused(sqlite_db: str) -> None:
    now = timestamps.now_in(NY)
    done = start_session(instrument=TEM, user="bob", at=now - timedelta(hours=2), engine=sqlite_db)
    lifecycle.end_session(
        session_identifier=done.session.session_identifier,
        at=now - timedelta(hours=1),
        engine=sqlite_db,
    )
    before = dump_session_log(sqlite_db)
    with pytest.raises(SessionsOverlap, match="would overlap") as info:
        start_session(instrument=TEM, user="eve", at=now - timedelta(minutes=90), engine=sqlite_db)
    assert [s.session_identifier for s in info.value.sessions] == [done.session.session_identifier]
    assert dump_session_log(sqlite_db) == before
    # After it ended: fine.
    assert start_session(
        instrument=TEM, user="eve", at=now - timedelta(minutes=30), engine=sqlite_db
    ).created


def test_future_start_is_listed_and_staff_can_close_it(db: str) -> None:
    raw_execute(
        db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('far', ?, '2999-01-01T09:00:00-05:00', 'START', "
        "'WAITING_FOR_END', 'old-logger')",
        (TEM,),
    )
    assert [p.kind for p in find_problems(engine=db)] == [ProblemKind.FUTURE_START]
    # It blocks the instrument and cannot be ended normally...
    assert not start_session(instrument=TEM, user="a", engine=db).created
    with pytest.raises(InvalidInput, match="before the session started"):
        lifecycle.end_session(session_identifier="far", engine=db)
    # ...but staff can close it: ERROR, so NexusLIMS never builds it, and the instrument is free.
    plan = admin_actions.plan_force_end("far", datetime.now(UTC), engine=db)
    assert "START is in the future" in plan.summary
    entry = admin_actions.apply(plan, login="staff", administrators=["staff"], engine=db)
    rows = [(r[4], r[5]) for r in dump_session_log(db) if r[1] == "far"]
    assert rows == [("START", "ERROR"), ("END", "ERROR")]
    assert entry.action == "force_end"
    kinds = {p.kind for p in find_problems(engine=db)}
    assert ProblemKind.FUTURE_START not in kinds
    assert kinds <= {ProblemKind.END_BEFORE_START, ProblemKind.STUCK_STATUS}  # until corrected
    assert start_session(instrument=TEM, user="a", engine=db).created


def test_lock_wait_honours_the_configured_timeout(sqlite_db: str) -> None:
    """An END under another program's exclusive lock gives up after db_timeout_seconds.

    The steps of ``session end`` (identify, find the open session, end it), in this process
    so that the interpreter's start-up does not count: together they wait one timeout.
    """
    durable = DurableLogger(sqlite_db, timeout=2.0)
    inst = durable.identify(instrument=TEM)  # this PC knows the database and its instrument
    assert durable.start(instrument=inst, user="alice").created
    with ExclusiveLock(sqlite_db):
        began = time.monotonic()
        inst = durable.identify(instrument=TEM)
        session = durable.find_open(inst.instrument_pid)
        outcome = durable.end(session)
        waited = time.monotonic() - began
    assert outcome.queued and "saved on this PC" in outcome.message
    assert 1.6 <= waited <= 2.4, waited  # the timeout, within 20 %
    assert durable.sync().pending == 0  # and the END reaches the database afterwards


# --- one open session per instrument ------------------------------------------------------------


def test_sessions_of_other_writers_are_seen(db: str) -> None:
    """A START written by NexusLIMS's API or by hand (no claim row) still blocks a new one."""
    raw_execute(
        db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('by-hand', ?, ?, 'START', 'WAITING_FOR_END', 'nemo')",
        (TEM, timestamps.to_db(timestamps.now_in(NY), NY)),
    )
    result = start_session(instrument=TEM, user="alice", engine=db)
    assert not result.created and result.session.session_identifier == "by-hand"


def test_the_database_refuses_a_second_claim(db: str) -> None:
    """Even a writer that skipped the lock cannot claim an instrument twice: one that read the
    claim row updates no free row; one that did not even read it breaks the primary key."""
    first = start_session(instrument=TEM, user="alice", engine=db).session
    eng = get_engine(db)
    for read_the_row in (True, False):
        with pytest.raises(Conflict, match="at the same moment"), write_transaction(eng) as conn:
            claim = open_rule.claim_statement(
                instrument_pid=TEM,
                session_identifier="sneaky",
                user="mallory",
                started=first.start_text,
                hostname="elsewhere",
                row=open_rule.claim_row(conn, TEM) if read_the_row else None,
            )
            (sent,) = send_together(conn, [claim])  # as a START sends it
            open_rule.check_claimed(TEM, sent.rowcount)
    assert find_open_session(TEM, engine=db).session_identifier == first.session_identifier
    assert find_open_session(TEM, engine=db).hostname is not None  # the PC that started it


def test_a_claim_whose_session_another_writer_closed_is_dropped(db: str) -> None:
    first = start_session(instrument=TEM, user="alice", engine=db).session
    raw_execute(  # NexusLIMS (or staff by hand) closes it without nexus-logger
        db,
        "UPDATE session_log SET record_status = 'ERROR' WHERE session_identifier = ?",
        (first.session_identifier,),
    )
    second = start_session(instrument=TEM, user="bob", engine=db)
    assert second.created
    eng = get_engine(db)
    with write_transaction(eng) as conn:
        claim = open_rule.current_claim(conn, TEM)
    assert claim is not None and claim.session_identifier == second.session.session_identifier


def test_a_start_never_begins_before_the_last_end(db: str) -> None:
    """An END recorded a little ahead (another PC's clock) pushes the next START to it."""
    first = start_session(instrument=TEM, user="alice", engine=db).session
    ahead = datetime.now(UTC) + timedelta(minutes=2)  # within the clock-skew tolerance
    ended = lifecycle.end_session(session_identifier=first.session_identifier, at=ahead, engine=db)
    second = start_session(instrument=TEM, user="bob", engine=db).session
    assert second.started >= ended.ended
    assert find_problems(engine=db) == []  # no overlap


# --- errors are classified, not guessed -----------------------------------------------------------


def test_a_folder_as_database_is_a_configuration_error(tmp_path: Path) -> None:
    durable = DurableLogger(str(tmp_path))
    with pytest.raises(ConfigError, match="is a folder"):
        durable.start(
            instrument=_instrument(),
            user="alice",
        )
    assert durable.outbox.items(states=tuple(EventState)) == []


def test_a_file_that_is_no_database_is_refused_not_kept(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("not a database\n" * 200)
    durable = DurableLogger(str(bogus))
    with pytest.raises(SchemaError, match="not an SQLite database"):
        durable.start(instrument=_instrument(), user="alice")
    assert durable.outbox.items(states=tuple(EventState)) == []


def _instrument():  # a row made by hand, as the outbox keeps it
    from nexus_logger.core.db.models import Instrument

    return Instrument(instrument_pid=TEM, display_name="TEM", timezone=NY)


@pytest.mark.postgres
def test_wrong_password_is_refused_on_a_pc_that_reached_the_database(
    pg_cluster, pg_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "saved on this PC": waiting does not mend a password, so nothing is kept."""
    name = pg_db.rsplit("/", 1)[1]
    pg_cluster.execute(
        "DO $$ BEGIN CREATE ROLE pc_login LOGIN PASSWORD 'right'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    pg_cluster.execute(f'GRANT ALL ON DATABASE "{name}" TO pc_login')
    pg_cluster.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO pc_login", dbname=name)
    pg_cluster.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO pc_login", dbname=name)
    pg_cluster.execute("GRANT CREATE ON SCHEMA public TO pc_login", dbname=name)
    pg_cluster.require_password("pc_login")
    good = f"postgresql+psycopg://pc_login:right@127.0.0.1:{pg_cluster.port}/{name}"
    bad = good.replace(":right@", ":wrong@")
    base = ["--instrument", TEM]
    assert main(["session", "start", "--db", good, *base]) == 0  # this PC knows the database
    assert main(["session", "end", "--db", good, *base]) == 0
    capsys.readouterr()
    code = main(["session", "start", "--db", bad, *base])
    err = capsys.readouterr().err
    assert code != 0 and "refused the login" in err and "saved on this PC" not in err
    assert DurableLogger(bad).pending_count() == 0
    with pytest.raises(AccessDenied):
        DurableLogger(bad).identify(instrument=TEM)


# --- sync's exit code -----------------------------------------------------------------------


def test_sync_exits_3_while_another_process_is_sending(sqlite_db: str) -> None:
    durable = durable_for(sqlite_db)
    queue_offline(durable, EventKind.START, "s-1", timestamps.to_db(timestamps.now_in(NY), NY))
    durable.keeper.file_lock.acquire()  # another process is sending
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nexus_logger", "sync", "--db", sqlite_db],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        durable.keeper.file_lock.release()
    assert proc.returncode == 3
    assert "Nothing waits" not in proc.stdout
    assert "sending saved events right now" in proc.stdout
    assert session_events(sqlite_db)[("s-1", "START")] == 0
    assert main(["sync", "--db", sqlite_db]) == 0
    assert_exactly_once(sqlite_db, {"s-1": "open"})


def test_sync_says_what_waits_for_another_database(
    sqlite_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An END kept for the database of yesterday's setting: a sync of today's said "Nothing
    to send: every event is in the database." It cannot send that END; it says it waits."""
    other = tmp_path / "other.sqlite"
    shutil.copyfile(sqlite_db, other)
    queue_offline(
        durable_for(str(other)), EventKind.START, "s-1", timestamps.to_db(timestamps.now_in(NY), NY)
    )
    assert main(["sync", "--db", sqlite_db]) == 0  # nothing waits for this one
    out = capsys.readouterr().out
    assert out.startswith("Nothing waits to be sent to this database.")
    assert "1 more event waits on this PC for another database" in out
    assert main(["sync", "--db", str(other)]) == 0
    assert "another database" not in capsys.readouterr().out


def test_start_answer_names_who_since_when_and_which_pc(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    capsys.readouterr()
    assert main(["session", "start", *base, "--user", "bob"]) == 4
    err = capsys.readouterr().err
    host = find_open_session(TEM, engine=sqlite_db).hostname
    assert "alice since" in err and f"on PC {host}" in err and "saved on this PC" not in err


def test_times_written_keep_the_instrument_zone(sqlite_db: str) -> None:
    at = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("UTC"))
    result = start_session(instrument=TEM, user="a", at=at, engine=sqlite_db)
    assert result.session.start_text == "2026-11-20T04:00:00-05:00"
