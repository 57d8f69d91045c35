"""The outbox from the command line: ``sync``, ``sync --status|--resolve|--retry`` and the
offline behaviour of ``session start|end|status``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from nexus_logger.cli import main
from nexus_logger.core import timestamps
from nexus_logger.core.offline.outbox import ConflictKind, EventKind, EventState
from nexus_logger.core.sessions import lifecycle
from tests.helpers_outbox import (
    TEM,
    assert_exactly_once,
    assert_pairing_holds,
    durable_for,
    moved_away,
    queue_offline,
)


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_status_of_an_empty_outbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--status"]) == 0
    out = capsys.readouterr().out
    assert "No events waiting" in out and "No open conflicts" in out
    # No database is asked: said of what this PC kept, not of the database (user trial).
    assert "everything this PC kept has been sent to the database" in out
    assert main(["sync", "--status", "--format", "json"]) == 0
    data = _json(capsys)
    assert (data["pending"], data["events"], data["conflicts"]) == (0, [], [])


def test_session_commands_offline_then_sync(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *common, "--user", "alice"]) == 0
    capsys.readouterr()
    with moved_away(sqlite_db):
        assert main(["session", "status", *common, "--format", "json"]) == 0
        status = _json(capsys)
        assert status["open"] and status["session"]["user"] == "alice"
        assert status["database_reachable"] is False and status["pending_events"] == 0

        assert main(["session", "end", *common, "--user", "alice"]) == 3  # kept on this PC
        out = capsys.readouterr().out
        assert "saved on this PC and will be sent automatically" in out
        # Nothing open now, as this PC knows it; the database was not reached: exit 5.
        assert main(["session", "end", *common, "--user", "alice"]) == 5
        capsys.readouterr()
        assert main(["session", "start", *common, "--user", "bob", "--format", "json"]) == 3
        started = _json(capsys)
        assert started["queued"] is True and "saved on this PC" in started["message"]

        assert main(["session", "status", *common]) == 0
        out = capsys.readouterr().out
        assert "Events waiting on this PC to be sent: 2" in out and "bob" in out

        assert main(["sync", "--status", "--format", "json"]) == 0
        listed = _json(capsys)
        assert [e["kind"] for e in listed["events"]] == ["END", "START"]
        assert main(["sync", "--db", sqlite_db]) == 3
        assert "2 events still waiting" in capsys.readouterr().out

    assert main(["sync", "--db", sqlite_db]) == 0
    assert "Sent 2 saved events." in capsys.readouterr().out
    assert main(["sync", "--db", sqlite_db]) == 0
    assert "Nothing waits to be sent to this database." in capsys.readouterr().out
    assert main(["session", "status", *common, "--format", "json"]) == 0
    status = _json(capsys)
    assert status["pending_events"] == 0 and status["session"]["user"] == "bob"
    assert status["database_reachable"] is True
    assert len(assert_pairing_holds(sqlite_db)) == 1


def test_sync_says_so_when_a_damaged_outbox_was_kept_aside(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The END waiting in a damaged outbox was never sent: 'everything is in the database'
    with exit 0 (what a scheduled sync logs as success) was not true."""
    common = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *common, "--user", "alice"]) == 0
    with moved_away(sqlite_db):
        assert main(["session", "end", *common, "--user", "alice"]) == 3  # kept on this PC
    capsys.readouterr()
    box = durable_for(sqlite_db).outbox
    path = box.path
    box.close()
    path.write_bytes(b"\x13garbage, not SQLite" * 200)  # truncated and overwritten
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)

    assert main(["sync", "--status"]) == 0
    shown = capsys.readouterr()
    assert "has been sent to the database" not in shown.out
    assert "This PC's outbox was damaged and is kept as" in shown.err
    assert main(["sync", "--db", sqlite_db]) == 3
    shown = capsys.readouterr()
    assert "This PC's outbox was damaged and is kept as" in shown.err
    assert main(["sync", "--status", "--format", "json"]) == 0
    assert len(_json(capsys)["damaged_copies"]) == 1


def test_conflict_listed_until_resolved(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    durable = durable_for(sqlite_db)
    inst = durable.identify(instrument=TEM)
    session = durable.start(instrument=inst, user="alice").session
    sid = session.session_identifier
    lifecycle.end_session(session_identifier=sid, engine=sqlite_db)  # staff force-end
    later = timestamps.to_db(session.started + timedelta(hours=2), inst.timezone)
    queue_offline(durable, EventKind.END, sid, later, start_text=session.start_text)

    assert main(["sync", "--db", sqlite_db, "--format", "json"]) == 0
    report = _json(capsys)
    [conflict] = report["conflicts"]
    assert conflict["kind"] == ConflictKind.END_ALREADY_RECORDED.value

    assert main(["sync", "--status"]) == 0
    out = capsys.readouterr().out
    assert "Open conflicts (1 not handled)" in out and sid in out and "--resolve" in out
    assert main(["session", "status", "--db", sqlite_db, "--instrument", TEM]) == 0
    assert "Conflicts to look at: 1" in capsys.readouterr().out

    cid = str(conflict["id"])
    assert main(["sync", "--resolve", cid, "--note", "end time fixed by hand"]) == 0
    assert f"Conflict {cid} is marked handled" in capsys.readouterr().out
    assert main(["sync", "--status", "--format", "json"]) == 0
    assert _json(capsys)["conflicts"] == []
    assert main(["sync", "--status", "--all", "--format", "json"]) == 0
    [handled] = _json(capsys)["conflicts"]
    assert handled["handled_note"] == "end time fixed by hand" and handled["handled_by"]
    assert_exactly_once(sqlite_db, {sid: "ended"})
    # Again, with another note: said to be done already, and the note not taken for kept.
    assert main(["sync", "--resolve", cid, "--note", "second thoughts"]) == 0
    out = capsys.readouterr().out
    assert f"Conflict {cid} was already marked handled" in out
    assert "nothing was changed, and the note was not added." in out
    assert main(["sync", "--status", "--all", "--format", "json"]) == 0
    assert _json(capsys)["conflicts"][0]["handled_note"] == "end time fixed by hand"


def test_retry_of_a_held_event(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    durable = durable_for(sqlite_db)
    event = queue_offline(durable, EventKind.START, "s-late", "2025-03-04T09:00:00-05:00")
    durable.outbox.set_state(event.id, EventState.HELD)
    # Held events are not sent by themselves, and a held event means "something waits": 3.
    assert main(["sync", "--db", sqlite_db]) == 3
    capsys.readouterr()
    assert_exactly_once(sqlite_db, {})
    assert main(["sync", "--db", sqlite_db, "--retry", str(event.id)]) == 0
    assert "Sent 1 saved event." in capsys.readouterr().out
    assert_exactly_once(sqlite_db, {"s-late": "open"})


def test_errors_are_one_sentence(capsys: pytest.CaptureFixture[str], sqlite_db: str) -> None:
    assert main(["sync", "--resolve", "999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nexus-logger: There is no conflict 999;") and "Traceback" not in err
    assert main(["sync", "--db", sqlite_db, "--retry", "5"]) == 2
    assert "no event 5" in capsys.readouterr().err


def test_real_entry_point_keeps_and_sends(sqlite_db: str) -> None:
    """The console command as a user runs it, in its own processes."""
    env = {**os.environ}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus_logger", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    common = ["--db", sqlite_db, "--instrument", TEM]
    assert run("session", "start", *common, "--user", "erin").returncode == 0
    with moved_away(sqlite_db):
        ended = run("session", "end", *common, "--user", "erin")
        assert ended.returncode == 3, ended.stderr  # kept on this PC
        assert "saved on this PC" in ended.stdout and ended.stderr == ""
    synced = run("sync", "--db", sqlite_db)
    assert synced.returncode == 0 and "Sent 1 saved event." in synced.stdout
    [(sid, inst, user)] = assert_pairing_holds(sqlite_db)
    assert (inst, user) == (TEM, "erin")


def test_sync_command_and_the_window_replaying_at_once(sqlite_db: str) -> None:
    """A 'nexus-logger sync' run by hand while the window replays the same outbox."""
    durable = durable_for(sqlite_db, timeout=10.0, lock_wait=60.0)
    sessions = {}
    for i in range(15):
        start = f"2025-03-{1 + i:02d}T09:00:00-05:00"
        queue_offline(durable, EventKind.START, f"p-{i}", start)
        queue_offline(
            durable, EventKind.END, f"p-{i}", start.replace("T09", "T10"), start_text=start
        )
        sessions[f"p-{i}"] = "ended"
    child = subprocess.Popen(
        [sys.executable, "-m", "nexus_logger", "sync", "--db", sqlite_db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mine = durable.sync()
    out, err = child.communicate(timeout=120)
    # 0: it sent (some of) them; 3: it found the outbox busy for longer than it waits.
    assert child.returncode in (0, 3) and "Traceback" not in err, err
    assert mine.conflicts == () and "conflict" not in out
    assert_exactly_once(sqlite_db, sessions)
    assert len(assert_pairing_holds(sqlite_db)) == 15
    assert durable.pending_count() == 0
