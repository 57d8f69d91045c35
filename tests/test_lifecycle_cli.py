"""``nexus-logger session start|end|status``: output, exit codes, JSON, defaults."""

from __future__ import annotations

import getpass
import json
import shlex
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.cli import main
from nexus_logger.core.sessions.lifecycle import (
    end_session,
    find_open_session,
    forget_open_here,
    record_heartbeat,
)
from tests.headless import run_main_in_child
from tests.helpers_lifecycle import dump_database, raw_query, starts_on
from tests.helpers_outbox import moved_away

TEM = "TEST-TEM-001"


def _json(capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    out = capsys.readouterr()
    return json.loads(out.out), out.err  # json.loads fails unless stdout is ONE JSON value


def test_start_status_end_text(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["session", "status", "--db", sqlite_db, "--instrument", TEM]) == 0
    assert "No session is open." in capsys.readouterr().out

    assert main(["session", "start", "--db", sqlite_db, "--instrument", TEM, "--note", "grid"]) == 0
    out = capsys.readouterr().out
    session = find_open_session(TEM, engine=sqlite_db)
    assert f"Started session {session.session_identifier} on {TEM}" in out
    assert session.user == getpass.getuser() and session.note == "grid"

    assert main(["session", "status", "--db", sqlite_db, "--instrument", TEM]) == 0
    out = capsys.readouterr().out
    assert session.session_identifier in out and getpass.getuser() in out and "grid" in out

    assert main(["session", "end", "--db", sqlite_db, "--instrument", TEM]) == 0
    out = capsys.readouterr().out
    assert f"Ended session {session.session_identifier}" in out
    assert find_open_session(TEM, engine=sqlite_db) is None


def test_start_while_open_exits_nonzero_naming_the_session(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "start", "--db", sqlite_db, "--instrument", TEM, "--user", "ann"]) == 0
    capsys.readouterr()
    before = dump_database(sqlite_db)
    code = main(["session", "start", "--db", sqlite_db, "--instrument", TEM, "--user", "ben"])
    err = capsys.readouterr().err
    assert code == 4  # refused by the database (README: exit codes)
    session = find_open_session(TEM, engine=sqlite_db)
    assert err.startswith(f"nexus-logger: A session is already open on {TEM}: ann since ")
    assert session.started.isoformat(sep=" ", timespec="seconds") in err
    assert session.session_identifier in err
    assert dump_database(sqlite_db) == before


def test_end_with_none_open_exits_nonzero(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "end", "--db", sqlite_db, "--instrument", TEM]) == 4
    assert "No session is open on TEST-TEM-001" in capsys.readouterr().err
    assert main(["session", "end", "--db", sqlite_db, "--instrument", TEM, "--format", "json"]) == 4
    data, err = _json(capsys)
    assert data["ok"] is False and data["ended"] is None and "No session is open" in err


def test_json_outputs_are_single_objects(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM, "--format", "json"]
    assert main(["session", "status", *base]) == 0
    data, _ = _json(capsys)
    assert data["open"] is False and data["session"] is None
    assert data["instrument"] == {
        "instrument_pid": TEM,
        "display_name": "Test TEM",
        "timezone": "America/New_York",
    }

    assert main(["session", "start", *base, "--user", "Zoë O'Neil"]) == 0
    data, _ = _json(capsys)
    assert data["ok"] is True and data["created"] is True
    ident = data["session"]["session_identifier"]
    assert data["session"]["user"] == "Zoë O'Neil"

    record_heartbeat(ident, engine=sqlite_db)
    assert main(["session", "status", *base]) == 0
    data, _ = _json(capsys)
    assert data["open"] is True and data["session"]["session_identifier"] == ident
    assert data["session"]["last_heartbeat"] is not None
    assert "pending_events" in data

    assert main(["session", "start", *base]) == 4
    data, err = _json(capsys)
    assert data["ok"] is False and data["created"] is False
    assert data["session"]["session_identifier"] == ident and "already open" in err

    assert main(["session", "end", *base]) == 4  # Zoë's session, not this login's
    data, err = _json(capsys)
    assert data["ok"] is False and data["session"]["session_identifier"] == ident
    assert "is not yours: Zoë O'Neil started it" in err and f"--session {ident}" in err
    assert main(["session", "end", *base, "--user", "Zoë O'Neil"]) == 0
    data, _ = _json(capsys)
    assert data["ended"]["session_identifier"] == ident and data["ended"]["user"] == "Zoë O'Neil"
    assert data["ended"]["already_ended"] is False


def test_end_at_naive_time_is_instrument_zone(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_LOGGER_BACKFILL_DAYS", "36500")  # the dates below are old
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--at", "2025-01-06T08:00:00"]) == 0
    assert main(["session", "end", *base, "--at", "2025-01-06T09:30", "--format", "json"]) == 0
    capsys.readouterr()
    rows = raw_query(sqlite_db, "SELECT event_type, timestamp FROM session_log ORDER BY 1 DESC")
    assert rows == [("START", "2025-01-06T08:00:00-05:00"), ("END", "2025-01-06T09:30:00-05:00")]


def test_another_login_may_not_change_the_note_or_keep_the_session_alive(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PC is shared: quinn's 'session note' replaced pat's note, and quinn's 'session
    heartbeat' made pat's abandoned session look in use (user trial). Both are refused, as
    'session end' is; reading the note stays open to anyone."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "pat", "--note", "grid 4"]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    capsys.readouterr()
    from nexus_logger.core.sessions import lifecycle

    monkeypatch.setattr(lifecycle, "default_user", lambda: "quinn")
    assert main(["session", "note", *base, "quinn was here"]) == 4
    assert "is not yours: pat started it" in capsys.readouterr().err
    assert main(["session", "heartbeat", *base]) == 4
    assert "no heartbeat was recorded" in capsys.readouterr().err
    assert lifecycle.get_note(ident, engine=sqlite_db) == "grid 4"
    tables = raw_query(sqlite_db, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert ("nexus_logger_heartbeat",) not in tables  # no heartbeat was ever written
    assert main(["session", "note", *base]) == 0  # reading it is not changing it
    assert capsys.readouterr().out.strip() == "grid 4"
    monkeypatch.setattr(lifecycle, "default_user", lambda: "PAT")  # the owner, any spelling
    assert main(["session", "heartbeat", *base]) == 0


def test_end_at_heartbeat(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    assert main(["session", "end", *base, "--at", "heartbeat"]) == 2
    assert "no heartbeat recorded" in capsys.readouterr().err
    assert main(["session", "end", *base, "--at", ""]) == 2  # empty is a mistake, not "now"
    assert "--at was given no time" in capsys.readouterr().err
    beat = record_heartbeat(ident, engine=sqlite_db)
    assert main(["session", "end", *base, "--at", "heartbeat"]) == 0
    (end_ts,) = raw_query(sqlite_db, "SELECT timestamp FROM session_log WHERE event_type = 'END'")[
        0
    ]
    assert datetime.fromisoformat(end_ts) == beat


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--user", "x" * 51], "at most 50"),
        (["--user", ""], "user name is empty"),
        (["--instrument", ""], "instrument is empty"),
        (["--at", "yesterday"], "not an ISO-8601 time"),
        (["--at", ""], "--at was given no time"),
        (["--at", "  "], "--at was given no time"),
        (["--at", "2025-01-06"], "a date without a time of day"),  # not read as midnight
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    before = dump_database(sqlite_db)
    args = ["session", "start", "--db", sqlite_db, "--instrument", TEM, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nexus-logger: ") and message in err and "Traceback" not in err
    assert dump_database(sqlite_db) == before


@pytest.mark.parametrize("command", ["start", "end"])
def test_a_bad_time_is_said_before_the_database_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A typo in --at is the user's to fix first, whatever the database's state."""
    missing = str(tmp_path / "not-there.sqlite")
    args = ["session", command, "--db", missing, "--instrument", TEM, "--at", "9:00"]
    assert main(args) == 2
    assert "'9:00' is not an ISO-8601 time" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["start", "status", "end"])
def test_an_unknown_instrument_is_a_set_up_problem_exit_6(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """As the README's table says (and as 'station set' does): the PC's set-up names it."""
    before = dump_database(sqlite_db)
    assert main(["session", command, "--db", sqlite_db, "--instrument", "NOPE"]) == 6
    err = capsys.readouterr().err
    assert "'NOPE' is not in the database" in err
    assert "Known instruments: TEST-FIB-003, TEST-SEM-002, TEST-TEM-001." in err
    assert dump_database(sqlite_db) == before


def test_a_database_without_instruments_says_where_they_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = str(tmp_path / "new.sqlite")
    assert main(["init-db", empty]) == 0
    capsys.readouterr()
    assert main(["session", "start", "--db", empty, "--instrument", "NOPE"]) == 6
    err = capsys.readouterr().err
    assert "has no instruments yet" in err and "'instruments' table" in err
    assert main(["session", "status", "--db", empty]) == 6  # not linked, and nothing to link to
    err = capsys.readouterr().err
    assert "has no instruments yet" in err and "station set" not in err


def _suggested(err: str) -> list[str]:
    """The command a refusal suggests, as arguments for ``main`` (it is quoted '...')."""
    command = err.split("'nexus-logger ", 1)[1].split("'", 1)[0]
    return shlex.split(command)


def test_refusals_suggest_a_command_that_works_as_given(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The advice fits the reader (the owner or someone else) and keeps the --db given."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    capsys.readouterr()
    assert main(["session", "start", *base, "--user", "bob"]) == 4  # not bob's to end
    err = capsys.readouterr().err
    assert "It is not yours" in err
    assert _suggested(err)[:3] == ["session", "end", "--session"]
    assert main(["session", "start", *base, "--user", "alice"]) == 4  # her own: end it first
    err = capsys.readouterr().err
    assert "End it first with" in err
    suggested = _suggested(err)
    assert suggested == [
        "session",
        "end",
        "--instrument",
        TEM,
        "--user",
        "alice",
        "--db",
        sqlite_db,
    ]
    assert main(suggested) == 0  # copied as it is, it ends her session
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    capsys.readouterr()
    assert main(["session", "end", *base, "--user", "bob"]) == 4
    suggested = _suggested(capsys.readouterr().err)
    assert suggested[-2:] == ["--db", sqlite_db]
    assert main(suggested) == 0  # naming the session is the explicit choice


def test_the_suggestion_works_with_the_database_away_and_a_config_file(
    sqlite_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The END of someone else's session, kept on this PC: the suggestion must name the
    instrument (this PC's open session is found by it) and the config file that names the
    database."""
    config = tmp_path / "my config.toml"  # a space: the path must be quoted
    config.write_text(f"database = '{sqlite_db}'\n")
    base = ["--config", str(config), "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    capsys.readouterr()
    with moved_away(sqlite_db):
        assert main(["session", "end", *base, "--user", "bob"]) == 5  # as this PC knows it
        suggested = _suggested(capsys.readouterr().err)
        assert "--instrument" in suggested and suggested[-2:] == ["--config", str(config)]
        assert main(suggested) == 3  # kept on this PC, to be sent when the database is back
    capsys.readouterr()
    assert main(["sync", "--config", str(config)]) == 0
    assert find_open_session(TEM, engine=sqlite_db) is None


def test_instrument_from_environment_and_from_station_table(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_LOGGER_INSTRUMENT", "TEST-SEM-002")
    assert main(["session", "start", "--db", sqlite_db, "--user", "env"]) == 0
    assert starts_on(sqlite_db, "TEST-SEM-002")[0][1] == "env"
    monkeypatch.delenv("NEXUS_LOGGER_INSTRUMENT")
    assert main(["session", "status", "--db", sqlite_db]) == 6
    err = capsys.readouterr().err
    assert "is not linked to an instrument" in err and "station set PID" in err
    assert main(["station", "set", "TEST-FIB-003", "--db", sqlite_db]) == 0
    capsys.readouterr()
    assert main(["session", "start", "--db", sqlite_db, "--user", "station"]) == 0
    assert starts_on(sqlite_db, "TEST-FIB-003")[0][1] == "station"


def test_session_commands_run_headless(sqlite_db: str) -> None:
    """The real entry point in a child: works, and never imports Qt."""
    run = run_main_in_child(
        ["session", "start", "--db", sqlite_db, "--instrument", TEM, "--format", "json"],
        {"QT_QPA_PLATFORM": "offscreen"},
    )
    assert (run.rc, run.qt_modules) == (0, []), run.stderr
    started = json.loads("\n".join(run.output))["session"]["started"]
    assert (
        datetime.fromisoformat(started).utcoffset()
        == datetime.fromisoformat(started).astimezone(ZoneInfo("America/New_York")).utcoffset()
    )


def test_heartbeat_and_note_commands(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "heartbeat", *base]) == 4
    assert main(["session", "note", *base, "x"]) == 4
    assert "No session is open" in capsys.readouterr().err
    assert main(["session", "start", *base, "--note", "first"]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    capsys.readouterr()

    assert main(["session", "heartbeat", *base, "--format", "json"]) == 0
    data, _ = _json(capsys)
    assert data["session_identifier"] == ident
    assert find_open_session(TEM, engine=sqlite_db).last_heartbeat == datetime.fromisoformat(
        data["last_heartbeat"]
    )

    assert main(["session", "note", *base]) == 0
    assert capsys.readouterr().out.strip() == "first"
    assert main(["session", "note", *base, "Au grid; 'tilt' ü", "--format", "json"]) == 0
    data, _ = _json(capsys)
    assert data == {"ok": True, "session_identifier": ident, "note": "Au grid; 'tilt' ü"}
    assert main(["session", "note", *base, ""]) == 0
    assert "removed" in capsys.readouterr().out
    assert find_open_session(TEM, engine=sqlite_db).note is None


def test_heartbeat_command_with_the_database_away(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The share went away: the heartbeat lands in this PC's local file and is not lost."""
    import os as _os

    from nexus_logger.core.sessions.lifecycle import last_heartbeat

    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    capsys.readouterr()
    _os.rename(sqlite_db, sqlite_db + ".away")
    try:
        assert main(["session", "heartbeat", *base, "--format", "json"]) == 0
        data, _ = _json(capsys)
    finally:
        _os.rename(sqlite_db + ".away", sqlite_db)
    assert data["session_identifier"] == ident and data["in_database"] is False
    assert last_heartbeat(ident, engine=sqlite_db) == datetime.fromisoformat(data["last_heartbeat"])
    assert raw_query(
        sqlite_db, "SELECT COUNT(*) FROM sqlite_master WHERE name = ?", ("nexus_logger_heartbeat",)
    ) == [(0,)]


def test_heartbeat_command_on_a_locked_file_says_it_is_kept_here(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file answers but another program holds it: the heartbeat could not be written
    there, and the command said "is alive at ..." as if it had been."""
    import sqlite3

    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    capsys.readouterr()
    monkeypatch.setenv("NEXUS_LOGGER_DB_TIMEOUT_SECONDS", "1")
    holder = sqlite3.connect(sqlite_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert main(["session", "heartbeat", *base]) == 0
    finally:
        holder.rollback()
        holder.close()
    out = capsys.readouterr().out
    assert out.startswith(f"Session {ident} is alive at ")
    assert "kept on this PC only, as the database cannot take it now" in out
    assert main(["session", "heartbeat", *base]) == 0
    assert "kept on this PC" not in capsys.readouterr().out


def test_a_json_refusal_carries_its_exit_code(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the README says of every failure with --format json: ok, error, exit_code."""
    args = ["session", "end", "--db", sqlite_db, "--instrument", TEM, "--format", "json"]
    assert main(args) == 4  # nothing is open
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["exit_code"]) == (False, 4) and "nothing to end" in data["error"]
    assert main([*args, "--at", "garbage"]) == 2  # the bad time is said first (usage, not 4)
    assert "not an ISO-8601 time" in capsys.readouterr().err


def test_status_with_the_database_away_names_the_end_waiting_here(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    with moved_away(sqlite_db):
        assert main(["session", "end", *base, "--user", "alice"]) == 3  # kept on this PC
        capsys.readouterr()
        assert main(["session", "status", *base]) == 0
        out = capsys.readouterr().out
    assert "No session is known to this PC." in out
    assert f"Session {ident} (alice) was ended on this PC at " in out
    assert "its END waits here to be sent" in out


def test_the_command_line_says_a_duration_as_the_window_does(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One session, one duration: the CLI wrote "2 min" where the window wrote "2 min 28 s"."""
    from nexus_logger.gui.text import duration

    start = datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0) - timedelta(
        minutes=10
    )
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--at", start.isoformat()]) == 0
    end = start + timedelta(minutes=2, seconds=28)
    assert main(["session", "end", *base, "--at", end.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("(2 min 28 s). NexusLIMS will build its record.")
    assert duration(148) == "2 min 28 s"  # the window's ended page


def test_an_end_now_before_the_sessions_start_is_refused_saying_why(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """'session end' means "now", the moment it was given. A session whose START is later
    than that is refused, changing nothing, with the reason: its start is ahead of this PC's
    clock (here: 2 minutes, within the clock-skew rule), or, when it began before now, it was
    started while the command waited (then it was not the session meant). Never "give a
    later end time" for a time nobody typed."""
    from nexus_logger.commands._session_end import end_before_its_start

    later = (datetime.now(ZoneInfo("America/New_York")) + timedelta(minutes=2)).replace(
        microsecond=0
    )
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--at", later.isoformat()]) == 0
    before = dump_database(sqlite_db)
    capsys.readouterr()
    assert main(["session", "end", *base]) == 4
    err = capsys.readouterr().err
    assert "later than this PC's clock when this command was given" in err
    assert "--at" in err and "later end time" not in err
    assert dump_database(sqlite_db) == before

    # The race: the command was given, then (while it waited) this session was started.
    assert main(["session", "start", "--db", sqlite_db, "--instrument", "TEST-SEM-002"]) == 0
    session = find_open_session("TEST-SEM-002", engine=sqlite_db)
    given = session.started - timedelta(seconds=2)
    said = str(end_before_its_start(session, given, named=False))
    assert said.startswith("No session was open on TEST-SEM-002 when this command was given")
    named = str(end_before_its_start(session, given, named=True))
    assert "one of the clocks is off" in named  # a session named by its identifier was meant


def test_a_damaged_outbox_is_named_by_status_and_doctor_until_it_is_removed(
    sqlite_db: str,
) -> None:
    """An END waited on this PC when its outbox file was damaged: the file is moved aside, and
    'session status' and 'doctor' say so (not "0 waiting" and "OK") until it is removed."""
    from nexus_logger.core.offline.outbox import default_path
    from nexus_logger.core.setup.doctor_pc import check_outbox

    base = ["--db", sqlite_db, "--instrument", TEM]
    # Each command in its own process, as at the PC: none keeps the outbox open meanwhile.
    assert run_main_in_child(["session", "start", *base, "--user", "alice"]).rc == 0
    with moved_away(sqlite_db):
        assert run_main_in_child(["session", "end", *base, "--user", "alice"]).rc == 3  # kept
    box = default_path()
    with box.open("r+b") as f:  # its header overwritten: no longer an SQLite file
        f.write(b"garbage, not SQLite" * 6)
    status = run_main_in_child(["session", "status", *base])
    assert status.rc == 0
    out = "\n".join(status.output)
    [copy] = list(box.parent.glob("outbox.sqlite.damaged-*Z"))  # (not its -wal, -shm)
    assert f"Warning: This PC's outbox was damaged and is kept as {copy}" in out
    assert "any START or END that waited in it was not sent" in out
    check = check_outbox()
    assert not check.ok and str(copy) in check.message
    with moved_away(sqlite_db):  # alice ends again: her END waits in the new outbox
        assert run_main_in_child(["session", "end", *base, "--user", "alice"]).rc == 3
    assert "Besides, 1 session event waits in" in check_outbox().message
    copy.unlink()
    assert "1 session event waits" in check_outbox().message


@pytest.mark.parametrize("named", [False, True], ids=["plain", "by-session"])
def test_a_start_held_by_a_conflict_can_still_be_ended_from_the_command_line(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], named: bool
) -> None:
    """alice's START waited on this PC while another PC logged a whole session over its time:
    it is held (overlap). Her 'session end' keeps the END with it (held too, for staff), rather
    than "no session is open" or "there is no session": the END time is not lost."""
    from nexus_logger.core.offline.outbox import Outbox, default_path
    from nexus_logger.core.sessions.lifecycle import end_session, start_session

    base = ["--db", sqlite_db, "--instrument", TEM]
    now = datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0)
    assert main(["session", "status", *base]) == 0  # this PC learns its instrument
    with moved_away(sqlite_db):
        at = (now - timedelta(hours=2)).isoformat()
        assert main(["session", "start", *base, "--user", "alice", "--at", at]) == 3
    # Another PC logs bob's whole session over that time, straight in the database.
    bob = start_session(instrument=TEM, user="bob", at=now - timedelta(hours=1), engine=sqlite_db)
    end_session(
        session_identifier=bob.session.session_identifier,
        at=now - timedelta(minutes=30),
        engine=sqlite_db,
    )
    assert main(["sync", "--db", sqlite_db]) != 0  # alice's START is held: overlap
    box = Outbox(default_path())
    [start] = [e for e in box.items() if e.kind.value == "START"]
    capsys.readouterr()
    # 'status' shows it too ("No session is open." alone, while 'end' found it).
    assert main(["session", "status", *base]) == 0
    said = capsys.readouterr().out
    assert "No session is open." in said
    assert f"Session {start.session_identifier} (alice), started on this PC at" in said
    assert "is held here by a conflict and was never written to the database" in said
    end = ["session", "end", *base, "--user", "alice"]
    if named:
        end += ["--session", start.session_identifier]
    assert main(end) == 3  # kept on this PC, with its START
    out = capsys.readouterr().out
    assert f"Session {start.session_identifier} on {TEM} for alice: its END at" in out
    kinds = {(e.kind.value, e.state.value) for e in box.items()}
    assert ("END", "held") in kinds and ("START", "held") in kinds
    assert raw_query(sqlite_db, "SELECT COUNT(*) FROM session_log WHERE user = 'alice'") == [(0,)]


@pytest.mark.parametrize("named", [False, True], ids=["plain", "by-session"])
def test_a_held_start_staff_marked_handled_is_still_its_users_to_end(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], named: bool
) -> None:
    """bob's session was left open before an outage; alice started offline, and her START was
    held (start_while_open). Staff end bob's session at its real time and mark the conflict
    handled, which gives the START event up. Her END still writes her whole session (as the
    window's does); the command said "There is no session" and her session was lost."""
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions.lifecycle import end_session, start_session

    base = ["--db", sqlite_db, "--instrument", TEM]
    now = datetime.now(ZoneInfo("America/New_York")).replace(microsecond=0)
    bob = start_session(instrument=TEM, user="bob", at=now - timedelta(hours=5), engine=sqlite_db)
    assert main(["session", "status", *base]) == 0  # this PC learns its instrument
    with moved_away(sqlite_db):
        at = (now - timedelta(hours=2)).isoformat()
        assert main(["session", "start", *base, "--user", "alice", "--at", at]) == 3
    assert main(["sync", "--db", sqlite_db]) != 0  # held: bob's session is open
    staff = DurableLogger(sqlite_db)
    [conflict] = staff.conflicts()
    end_session(
        session_identifier=bob.session.session_identifier,
        at=now - timedelta(hours=4),
        engine=sqlite_db,
    )
    assert main(["sync", "--db", sqlite_db, "--resolve", str(conflict.id)]) == 0
    capsys.readouterr()
    end = ["session", "end", *base, "--user", "alice"]
    if named:
        end += ["--session", conflict.session_identifier]
    assert main(end) == 0, capsys.readouterr().err
    rows = raw_query(
        sqlite_db, "SELECT event_type, record_status FROM session_log WHERE user = 'alice'"
    )
    assert sorted(rows) == [("END", "TO_BE_BUILT"), ("START", "TO_BE_BUILT")]
    capsys.readouterr()
    main(end)  # ended once: not written again
    said = capsys.readouterr()
    assert ("had already ended" if named else "No session is open") in said.out + said.err
    assert raw_query(sqlite_db, "SELECT COUNT(*) FROM session_log WHERE user = 'alice'") == [(2,)]


def test_a_session_ended_by_its_identifier_is_no_longer_open_as_this_pc_knows_it(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ended with --session (no instrument given, so not found as this PC's open session), it
    must leave this PC's own record too: with the database away later, status and start must
    not take it for open."""
    assert main(["session", "start", "--db", sqlite_db, "--instrument", TEM]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    assert main(["session", "end", "--db", sqlite_db, "--session", ident]) == 0
    capsys.readouterr()
    with moved_away(sqlite_db):
        assert main(["session", "status", "--db", sqlite_db, "--instrument", TEM]) == 0
        out = capsys.readouterr().out
    assert ident not in out and "No session is known to this PC." in out


def _as(login: str, home: Path) -> dict[str, str]:
    """The environment of ``login`` on this PC: its own home (local files), the PC's outbox."""
    return {"NEXUS_LOGGER_HOME": str(home / login), "USER": login, "LOGNAME": login}


def test_offline_this_pc_knows_a_session_ended_by_another_login(
    sqlite_db: str, tmp_path: Path
) -> None:
    """bob ended alice's session on this PC (named by its identifier). Later, with the
    database away, alice's own record still lists it, but the PC's outbox holds its END: her
    start is kept, not refused by a session that is over, and 'end' ends nothing twice."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert run_main_in_child(["session", "start", *base], _as("alice", tmp_path)).rc == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    bob = run_main_in_child(["session", "end", *base, "--session", ident], _as("bob", tmp_path))
    assert bob.rc == 0
    with moved_away(sqlite_db):
        status = run_main_in_child(["session", "status", *base], _as("alice", tmp_path))
        assert ident not in "\n".join(status.output)
        start = run_main_in_child(["session", "start", *base], _as("alice", tmp_path))
        assert start.rc == 3, start.stderr  # kept on this PC, not "already open"
    assert raw_query(sqlite_db, "SELECT COUNT(*) FROM session_log WHERE event_type = 'END'") == [
        (1,)
    ]


def test_offline_this_pc_knows_a_session_it_started_offline_and_sent(
    sqlite_db: str, tmp_path: Path
) -> None:
    """A START kept while the database was away and sent when it came back is this PC's
    session at the next outage too: its END is kept, not "no session is open"."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    bob = _as("bob", tmp_path)
    assert run_main_in_child(["session", "status", *base], bob).rc == 0  # knows its instrument
    with moved_away(sqlite_db):
        assert run_main_in_child(["session", "start", *base], bob).rc == 3  # kept
    assert run_main_in_child(["sync", "--db", sqlite_db], bob).rc == 0  # sent
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    with moved_away(sqlite_db):
        end = run_main_in_child(["session", "end", *base], bob)
        assert end.rc == 3, end.stderr  # kept on this PC
        assert ident in "\n".join(end.output)
    assert run_main_in_child(["sync", "--db", sqlite_db], bob).rc == 0
    assert find_open_session(TEM, engine=sqlite_db) is None


def test_offline_with_no_session_known_the_refusal_claims_nothing_of_the_database(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "status", *base]) == 0  # this PC learns its instrument
    capsys.readouterr()
    with moved_away(sqlite_db):
        # 5: the database was not reached and nothing was kept (4 says the database refused).
        assert main(["session", "end", *base]) == 5
        assert main(["session", "heartbeat", *base]) == 5
    err = capsys.readouterr().err
    assert "The database cannot be reached, and this PC knows no session open on" in err
    assert "no heartbeat recorded" in err
    assert "No session is open" not in err
    # A start refused by what this PC knows (a START of its own kept here), offline: 5 too.
    with moved_away(sqlite_db):
        assert main(["session", "start", *base, "--user", "alice"]) == 3  # kept on this PC
        assert main(["session", "start", *base, "--user", "alice"]) == 5
    assert "as this PC knows it; the database cannot be reached" in capsys.readouterr().err


def test_offline_a_session_another_login_started_here_is_known_and_stays_its_own(
    sqlite_db: str, tmp_path: Path
) -> None:
    """bob started online; the share dropped. alice's start was kept on this PC (and held at
    the next sending, never written), and bob could not end his own session offline: "not
    yours, alice started it". The PC's record of its sessions is now one for every login."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    bob, alice = _as("bob", tmp_path), _as("alice", tmp_path)
    assert run_main_in_child(["session", "start", *base], bob).rc == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    with moved_away(sqlite_db):
        start = run_main_in_child(["session", "start", *base], alice)
        assert start.rc == 5, start.stderr  # refused by what this PC knows; nothing kept
        assert "bob" in start.stderr and "as this PC knows it" in start.stderr
        # alice may not end it unnamed; said as this PC knows it (exit 5: not the database).
        hers = run_main_in_child(["session", "end", *base], alice)
        assert hers.rc == 5, hers.stderr
        assert "(as this PC knows it; the database cannot be reached) is not yours" in hers.stderr
        end = run_main_in_child(["session", "end", *base], bob)
        assert end.rc == 3, end.stderr  # his END, kept on this PC
    assert run_main_in_child(["sync", "--db", sqlite_db], alice).rc == 0
    assert find_open_session(TEM, engine=sqlite_db) is None
    assert [
        r[0]
        for r in raw_query(
            sqlite_db,
            "SELECT event_type FROM session_log "
            "WHERE session_identifier = ? ORDER BY id_session_log",
            (ident,),
        )
    ] == ["START", "END"]


def test_offline_a_start_another_login_sent_is_known_to_its_owner(
    sqlite_db: str, tmp_path: Path
) -> None:
    """bob's START was kept offline and sent by alice's sync; offline again, bob's PC said it
    knew no session and let him start a second one (held at the next sending)."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    bob, alice = _as("bob", tmp_path), _as("alice", tmp_path)
    assert run_main_in_child(["session", "status", *base], bob).rc == 0  # learns the instrument
    with moved_away(sqlite_db):
        assert run_main_in_child(["session", "start", *base], bob).rc == 3  # kept
    assert run_main_in_child(["sync", "--db", sqlite_db], alice).rc == 0  # alice sends it
    assert find_open_session(TEM, engine=sqlite_db).user == "bob"
    with moved_away(sqlite_db):
        status = run_main_in_child(["session", "status", *base], bob)
        assert "bob" in "\n".join(status.output), status.output
        again = run_main_in_child(["session", "start", *base], bob)
        assert again.rc == 5, again.stderr  # his session is known: no second one
        assert run_main_in_child(["session", "end", *base], bob).rc == 3  # kept, to be sent
    assert run_main_in_child(["sync", "--db", sqlite_db], bob).rc == 0
    assert find_open_session(TEM, engine=sqlite_db) is None


def test_offline_this_pc_forgets_a_session_the_database_said_was_ended_elsewhere(
    sqlite_db: str, tmp_path: Path
) -> None:
    """bob's session is ended elsewhere (staff); the next time the database answers, this PC
    forgets it, so at the next outage it does not block bob's new START."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    bob = _as("bob", tmp_path)
    assert run_main_in_child(["session", "start", *base], bob).rc == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    end_session(session_identifier=ident, engine=sqlite_db)  # staff, another PC
    assert run_main_in_child(["session", "status", *base], bob).rc == 0  # the database answers
    with moved_away(sqlite_db):
        start = run_main_in_child(["session", "start", *base], bob)
        assert start.rc == 3, start.stderr  # kept on this PC, not "already open"


def test_end_at_a_heartbeat_earlier_than_the_start_says_so(sqlite_db: str, tmp_path: Path) -> None:
    """A heartbeat before the START (written by a PC whose clock was behind): said as it is,
    not as the moment the command was given. Ended from a PC with no record of the session."""
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base]) == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    record_heartbeat(ident, engine=sqlite_db)
    with sqlite3.connect(sqlite_db) as conn:  # as another PC whose clock was behind wrote it
        conn.execute(
            "UPDATE nexus_logger_heartbeat SET last_alive = '2020-01-01T00:00:00-05:00' "
            "WHERE session_identifier = ?",
            (ident,),
        )
    forget_open_here(ident)  # it ran on that other PC: this one has no record of it
    end = ["session", "end", *base, "--session", ident, "--at", "heartbeat"]
    run = run_main_in_child(end, _as("carol", tmp_path))
    assert run.rc == 4
    assert f"The last heartbeat of session {ident}" in run.stderr
    assert "earlier than its start" in run.stderr and "when this command" not in run.stderr
