"""Admin actions: exact previews, one transaction with the audit row, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from nexus_logger.cli import main
from nexus_logger.core.errors import Conflict, InvalidInput, NexusLoggerError
from nexus_logger.core.session_handler import get_sessions_to_build
from nexus_logger.core.settings.identity import os_login
from nexus_logger.core.staff import admin_actions as aa
from tests.helpers_admin import (
    NOW,
    NY,
    audit_count,
    dump_session_log,
    insert_rows,
    ny,
    raw_execute,
    raw_query,
    session,
)

ADMINS = ["Root", "LAB\\alice"]


def _apply(plan: aa.ActionPlan, db: str, login: str = "root") -> aa.AuditEntry:
    return aa.apply(plan, login=login, administrators=ADMINS, hostname="staff-pc", engine=db)


def test_force_end_preview_apply_and_audit(db: str) -> None:
    ids = session(db, "open-1", user="dave", status="WAITING_FOR_END", start_h=30, end_h=None)
    at = (NOW - timedelta(hours=27)).astimezone(NY).replace(tzinfo=None)  # naive: NY local
    plan = aa.plan_force_end("open-1", at, engine=db)
    stamp = "2025-02-09T09:00:00-05:00"
    assert plan.params == {"at": stamp}
    assert [c.describe() for c in plan.changes] == [
        f"row {ids[0]} START: record_status 'WAITING_FOR_END' -> 'TO_BE_BUILT'",
        f"new END row: {stamp}, user 'dave', TO_BE_BUILT",
    ]
    assert "3 h 0 min after it started" in plan.summary
    at_start = (NOW - timedelta(hours=30)).astimezone(NY).replace(tzinfo=None)
    with pytest.raises(InvalidInput, match="the moment session open-1 started"):
        aa.plan_force_end("open-1", at_start, engine=db)  # a record of no time at all
    before = dump_session_log(db)
    assert audit_count(db) == 0  # a preview writes nothing

    entry = _apply(plan, db)
    rows = dump_session_log(db)
    assert rows[: len(before)] != before
    assert rows[-1][1:] == ("open-1", "TEST-TEM-001", stamp, "END", "TO_BE_BUILT", "dave")
    assert [r[5] for r in rows if r[1] == "open-1"] == ["TO_BE_BUILT", "TO_BE_BUILT"]
    assert [s.session_identifier for s in get_sessions_to_build(engine=db)] == ["open-1"]

    assert entry.action == "force_end" and entry.login == "root" and entry.hostname == "staff-pc"
    assert [r["record_status"] for r in entry.before] == ["WAITING_FOR_END"]
    assert [(r["event_type"], r["record_status"]) for r in entry.after] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    (stored,) = aa.list_audit(engine=db)
    assert stored == entry
    assert raw_query(db, "SELECT login, action, session_identifier FROM nexus_logger_audit") == [
        ("root", "force_end", "open-1")
    ]


@pytest.mark.parametrize(
    ("hours_after_start", "error", "text"),
    [(-1, InvalidInput, "before the session started"), (None, InvalidInput, "in the future")],
)
def test_force_end_refuses_bad_times(
    sqlite_db: str, hours_after_start: float | None, error: type, text: str
) -> None:
    session(sqlite_db, "open-1", status="WAITING_FOR_END", start_h=30, end_h=None)
    if hours_after_start is None:
        at = datetime.now(NY) + timedelta(hours=1)
    else:
        at = NOW - timedelta(hours=30) + timedelta(hours=hours_after_start)
    with pytest.raises(error, match=text):
        aa.plan_force_end("open-1", at, engine=sqlite_db)


def test_force_end_refuses_ended_session(sqlite_db: str) -> None:
    session(sqlite_db, "done", status="COMPLETED")
    with pytest.raises(Conflict, match="already has an END"):
        aa.plan_force_end("done", NOW, engine=sqlite_db)
    with pytest.raises(NexusLoggerError, match="no session nope"):
        aa.plan_force_end("nope", NOW, engine=sqlite_db)


def test_requeue_sets_start_and_end_only(db: str) -> None:
    ids = session(db, "err", user="victor", status="ERROR", generations=2)
    plan = aa.plan_requeue("err", engine=db)
    assert [c.id_session_log for c in plan.changes] == ids[:2]
    assert all("'ERROR' -> 'TO_BE_BUILT'" in c.describe() for c in plan.changes)
    entry = _apply(plan, db)
    statuses = [r[5] for r in dump_session_log(db)]
    assert statuses == ["TO_BE_BUILT", "TO_BE_BUILT", "ERROR", "ERROR"]
    assert [r["id_session_log"] for r in entry.before] == ids[:2]
    assert [r["record_status"] for r in entry.after] == ["TO_BE_BUILT", "TO_BE_BUILT"]
    assert [s.session_identifier for s in get_sessions_to_build(engine=db)] == ["err"]
    assert plan.summary.endswith("Its 2 RECORD_GENERATION row(s) stay as they are.")


def test_requeue_says_what_a_session_without_files_will_become(sqlite_db: str) -> None:
    """Re-queuing a NO_FILES_FOUND session spoke of RECORD_GENERATION rows it did not have,
    and not of the likely outcome."""
    session(sqlite_db, "empty", status="NO_FILES_FOUND")
    summary = aa.plan_requeue("empty", engine=sqlite_db).summary
    assert "RECORD_GENERATION" not in summary
    assert summary.endswith(
        "NexusLIMS found no files for it last time: unless files were added to its folder "
        "since, it will be NO_FILES_FOUND again."
    )


def test_requeue_refusals(sqlite_db: str) -> None:
    session(sqlite_db, "open", status="WAITING_FOR_END", end_h=None)
    session(sqlite_db, "queued", status="TO_BE_BUILT")
    insert_rows(
        sqlite_db,
        [
            ("mixed", "TEST-TEM-001", ny(5), "START", "ERROR", "frank"),
            ("mixed", "TEST-TEM-001", ny(4), "END", "ERROR", "grace"),
        ],
    )
    with pytest.raises(Conflict, match="no END yet"):
        aa.plan_requeue("open", engine=sqlite_db)
    with pytest.raises(Conflict, match="already TO_BE_BUILT"):
        aa.plan_requeue("queued", engine=sqlite_db)
    with pytest.raises(Conflict, match="Fix the user mismatch first"):
        aa.plan_requeue("mixed", engine=sqlite_db)


def test_fix_user_mismatch(db: str) -> None:
    ids = insert_rows(
        db,
        [
            ("mm", "TEST-TEM-001", ny(5), "START", "TO_BE_BUILT", "frank"),
            ("mm", "TEST-TEM-001", ny(4), "END", "TO_BE_BUILT", "grace"),
        ],
    )
    with pytest.raises(ValueError):
        get_sessions_to_build(engine=db)
    plan = aa.plan_fix_user("mm", "grace", engine=db)
    assert [c.describe() for c in plan.changes] == [f"row {ids[0]} START: user 'frank' -> 'grace'"]
    entry = _apply(plan, db, login="lab\\ALICE")  # domain and case do not matter
    assert entry.login == os_login()  # the gate's name is not what the trail records
    assert [r[6] for r in dump_session_log(db)] == ["grace", "grace"]
    assert [s.user for s in get_sessions_to_build(engine=db)] == ["grace"]
    with pytest.raises(Conflict, match="already have the user"):
        aa.plan_fix_user("mm", "grace", engine=db)
    with pytest.raises(InvalidInput):
        aa.plan_fix_user("mm", "bad\nname", engine=db)
    # An open session is a state to wait out (exit 4, as for requeue), not bad input (2).
    session(db, "open-mm", user="frank", status="WAITING_FOR_END", start_h=3, end_h=None)
    with pytest.raises(Conflict, match="End it first") as open_one:
        aa.plan_fix_user("open-mm", "grace", engine=db)
    assert open_one.value.exit_code == 4


def test_an_end_without_start_is_refused_alike_by_every_action(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each action says the session has no START, as a refusal of its state (exit 4)."""
    monkeypatch.setattr(aa, "current_login", lambda: "root")
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", "root")
    insert_rows(sqlite_db, [("end-only", "TEST-TEM-001", ny(5), "END", "TO_BE_BUILT", "heidi")])
    for action in (
        ["requeue", "end-only"],
        ["fix-user", "end-only", "--user", "heidi2"],
        ["force-end", "end-only", "--at", "2025-02-09T10:00"],
    ):
        assert main(["admin", "--db", sqlite_db, *action, "--yes"]) == 4, action
        assert "end-only has no START row" in capsys.readouterr().err, action


def test_a_completed_session_says_its_record_was_built(sqlite_db: str) -> None:
    """Re-queuing or renaming a built session says what happens to the record built."""
    session(sqlite_db, "built", user="alice", status="COMPLETED", generations=1)
    requeue = aa.plan_requeue("built", engine=sqlite_db).summary
    assert "was COMPLETED" in requeue and "builds and uploads a second one" in requeue
    rename = aa.plan_fix_user("built", "alice2", engine=sqlite_db).summary
    assert "the record NexusLIMS already built keeps the old user" in rename
    session(sqlite_db, "failed", user="bob", status="ERROR")
    again = aa.plan_requeue("failed", engine=sqlite_db).summary
    assert "was ERROR" in again and "second one" not in again


def test_force_end_refuses_a_wall_clock_time_that_never_happened_or_happened_twice(
    sqlite_db: str,
) -> None:
    """A naive --at is the instrument's clock (New York): 02:30 on 9 March 2025 was skipped,
    01:30 on 2 November 2025 came twice; both are refused naming the readings, and the time
    with its offset is taken as given."""
    insert_rows(
        sqlite_db,
        [("dst", "TEST-TEM-001", "2025-03-08T20:00:00-05:00", "START", "WAITING_FOR_END", "x")],
    )
    with pytest.raises(InvalidInput, match="does not exist in America/New_York"):
        aa.plan_force_end("dst", datetime(2025, 3, 9, 2, 30), engine=sqlite_db)
    with pytest.raises(InvalidInput, match="happens twice in America/New_York"):
        aa.plan_force_end("dst", datetime(2025, 11, 2, 1, 30), engine=sqlite_db)
    given = datetime.fromisoformat("2025-11-02T01:30-05:00")
    plan = aa.plan_force_end("dst", given, engine=sqlite_db)
    assert "at 2025-11-02T01:30:00-05:00" in plan.summary


def test_non_administrator_is_refused_and_nothing_changes(sqlite_db: str) -> None:
    session(sqlite_db, "err", status="ERROR")
    plan = aa.plan_requeue("err", engine=sqlite_db)
    before = dump_session_log(sqlite_db)
    with pytest.raises(aa.NotAdministrator, match="'mallory' is not an administrator"):
        aa.apply(plan, login="mallory", administrators=ADMINS, engine=sqlite_db)
    with pytest.raises(aa.NotAdministrator):
        aa.apply(plan, login="", administrators=ADMINS, engine=sqlite_db)
    with pytest.raises(aa.NotAdministrator):
        aa.requeue("err", login="root", administrators=[], engine=sqlite_db)
    assert dump_session_log(sqlite_db) == before
    assert audit_count(sqlite_db) == 0


def test_administrator_from_config_file(isolated_home, monkeypatch) -> None:
    monkeypatch.setattr(aa, "current_login", lambda: "Carol")
    assert not aa.is_administrator()
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('administrators = ["carol@lab.example.org", "dave"]\n')
    assert aa.is_administrator()
    assert aa.is_administrator("DOMAIN\\dave")
    assert not aa.is_administrator("eve")
    assert aa.require_administrator() == "Carol"


def test_stale_preview_is_refused(sqlite_db: str) -> None:
    ids = session(sqlite_db, "err", status="ERROR")
    plan = aa.plan_requeue("err", engine=sqlite_db)
    raw_execute(
        sqlite_db,
        "UPDATE session_log SET record_status='COMPLETED' WHERE id_session_log=?",
        (ids[0],),
    )
    before = dump_session_log(sqlite_db)
    with pytest.raises(Conflict, match="changed after the preview"):
        _apply(plan, sqlite_db)
    assert dump_session_log(sqlite_db) == before

    session(sqlite_db, "open", status="WAITING_FOR_END", start_h=30, end_h=None)
    plan = aa.plan_force_end("open", NOW, engine=sqlite_db)
    insert_rows(sqlite_db, [("open", "TEST-TEM-001", ny(1), "END", "WAITING_FOR_END", "alice")])
    with pytest.raises(Conflict):
        _apply(plan, sqlite_db)


def test_failed_audit_insert_rolls_the_change_back(sqlite_db: str) -> None:
    """Change and audit row are one transaction: if the audit row cannot be written, nothing is."""
    aa.ensure_audit_table(sqlite_db)
    raw_execute(
        sqlite_db,
        "CREATE TRIGGER no_audit BEFORE INSERT ON nexus_logger_audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is full'); END",
    )
    session(sqlite_db, "err", status="ERROR")
    before = dump_session_log(sqlite_db)
    with pytest.raises(NexusLoggerError, match="audit is full"):
        aa.requeue("err", login="root", administrators=ADMINS, engine=sqlite_db)
    assert dump_session_log(sqlite_db) == before


def test_audit_is_empty_without_table(sqlite_db: str) -> None:
    assert aa.list_audit(engine=sqlite_db) == []
    assert "nexus_logger_audit" not in {
        r[0] for r in raw_query(sqlite_db, "SELECT name FROM sqlite_master WHERE type='table'")
    }


def test_cli_actions_confirmation_and_audit(
    sqlite_db: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_home,
) -> None:
    monkeypatch.setattr(aa, "current_login", lambda: "root")
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('administrators = ["root"]\n')
    session(sqlite_db, "err", status="ERROR")
    session(sqlite_db, "open", user="dave", status="WAITING_FOR_END", start_h=30, end_h=None)
    insert_rows(
        sqlite_db,
        [
            ("mm", "TEST-TEM-001", ny(5), "START", "COMPLETED", "frank"),
            ("mm", "TEST-TEM-001", ny(4), "END", "COMPLETED", "grace"),
        ],
    )
    before = dump_session_log(sqlite_db)

    # Without a terminal and without --yes nothing is changed.
    monkeypatch.setattr("sys.stdin", None)
    assert main(["admin", "--db", sqlite_db, "requeue", "err"]) == 2
    out = capsys.readouterr()
    assert "'ERROR' -> 'TO_BE_BUILT'" in out.out and "Add --yes" in out.err
    assert dump_session_log(sqlite_db) == before

    assert main(["admin", "requeue", "err", "--db", sqlite_db, "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Planned change (nothing is written until it is applied):")
    assert "audit entry 1" in out
    assert main(["admin", "--db", sqlite_db, "fix-user", "mm", "--user", "frank", "--yes"]) == 0
    assert (
        main(["admin", "--db", sqlite_db, "force-end", "open", "--at", "2025-02-09T10:00", "--yes"])
        == 0
    )
    capsys.readouterr()
    assert raw_query(
        sqlite_db,
        "SELECT timestamp, \"user\" FROM session_log WHERE session_identifier='open' "
        "AND event_type='END'",
    ) == [("2025-02-09T10:00:00-05:00", "dave")]
    assert main(["admin", "--db", sqlite_db, "force-end", "open", "--at", "soon", "--yes"]) == 2
    assert "not an ISO-8601 time" in capsys.readouterr().err
    assert main(["admin", "--db", sqlite_db, "force-end", "x", "--at", "2025-02-09", "--yes"]) == 2
    assert "a date without a time of day" in capsys.readouterr().err  # not midnight

    assert main(["admin", "audit", "--db", sqlite_db, "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in entries] == ["force_end", "fix_user", "requeue"]
    assert main(["admin", "audit", "--db", sqlite_db]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["ID", "AT", "LOGIN"]
    # A session nobody acted on: said of that session, not as if the trail were empty.
    assert main(["admin", "audit", "--db", sqlite_db, "--session", "nosuch"]) == 0
    assert capsys.readouterr().out == "No admin actions recorded for session nosuch.\n"

    monkeypatch.setattr(aa, "current_login", lambda: "mallory")
    assert main(["admin", "--db", sqlite_db, "requeue", "mm", "--yes"]) == 4
    assert "not an administrator" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_end_of_input_at_the_question_is_a_no(sqlite_db: str) -> None:
    """Ctrl-D at "Apply these changes? [y/N]" printed "unexpected error: ." (exit 1): input()
    raises EOFError. It is a no: "Nothing was changed.", as for any other answer but yes."""
    import pty

    session(sqlite_db, "err", status="ERROR")
    before = dump_session_log(sqlite_db)
    controller, terminal = pty.openpty()
    env = {**os.environ, "NEXUS_LOGGER_ADMINISTRATORS": aa.current_login()}
    command = [sys.executable, "-m", "nexus_logger", "admin", "--db", sqlite_db, "requeue", "err"]
    with subprocess.Popen(
        command, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as child:
        os.close(terminal)
        os.write(controller, b"\x04")  # end of input, as the terminal's Ctrl-D sends it
        out, err = child.communicate(timeout=120)
    os.close(controller)
    assert child.returncode == 1, err
    assert out.decode().rstrip().endswith("Nothing was changed.")
    assert err.decode() == ""
    assert dump_session_log(sqlite_db) == before


def test_postgres_roles_sql_refuses_odd_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidInput):
        aa.postgres_roles_sql(instrument_role="x; DROP TABLE session_log")
    assert main(["admin", "postgres-roles", "--admin-role", "staff"]) == 0
    sql = capsys.readouterr().out
    assert 'GRANT INSERT ON "public".nexus_logger_audit TO "staff";' in sql


def test_asking_who_is_an_administrator_loads_no_database_stack() -> None:
    """The window asks on its GUI thread, to show or hide the Admin tab, before its first
    database job: importing SQLAlchemy there would freeze the window for 0.3-0.6 s."""
    code = (
        "import sys\n"
        "from nexus_logger.core.staff.admin_actions import is_administrator\n"
        "print(is_administrator('LAB\\\\Alice', ['alice']), is_administrator('bob', ['alice']))\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_audit_limit_must_be_a_whole_number_above_zero(
    limit: str, sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 printed "No admin actions recorded." (untrue) and -1 listed everything."""
    from nexus_logger.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["admin", "--db", sqlite_db, "audit", "--limit", limit])
    assert stopped.value.code == 2
    assert "is not a whole number from 1 to" in capsys.readouterr().err
