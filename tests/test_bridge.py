"""The bridge between PostgreSQL and NexusLIMS's SQLite file, with the real NexusLIMS 2.8."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from nexus_logger.cli import main
from nexus_logger.core.bridge import bridge
from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.bridge.bridge_status import read_status
from nexus_logger.core.db.engine import dispose_engines, get_engine
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.setup.doctor import check_bridge
from nexus_logger.core.staff import admin_actions
from tests.helpers_bridge import (
    PID,
    add_session,
    check_invariants,
    nexuslims_build,
    rows_by_session,
    sessions_so_far,
)
from tests.nexuslims_ref import nexuslims_mark_built, nexuslims_sessions_to_build
from tests.rawdb import dump_session_log, pg_dsn, raw_execute, raw_query

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["bridge", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def nx_file(tmp_path: Path) -> str:
    return str(tmp_path / "nexuslims.sqlite")


def bridged(pg: str, path: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(capsys, "--from", pg, "--to", path, "--create")
    assert code == 0, out + err
    return out


# --------------------------------------------------------------------------------------------
# decisions (pure)


_TIMES = {"START": "2025-01-06T10:00:00-05:00", "END": "2025-01-06T11:00:00-05:00"}


def _row(ev: str, st: str, user: str = "u", ts: str | None = None) -> dict:
    return {
        "session_identifier": "s",
        "event_type": ev,
        "record_status": st,
        "user": user,
        "timestamp": ts or _TIMES.get(ev, "2025-01-06T12:00:00-05:00"),
        "instrument": "I",
        "id_session_log": 1,
    }


def test_decide_covers_each_case() -> None:
    tbb = [_row("START", "TO_BE_BUILT"), _row("END", "TO_BE_BUILT")]
    done = [_row("START", "COMPLETED"), _row("END", "COMPLETED")]
    built = [*done, _row("RECORD_GENERATION", "COMPLETED", "nexuslims")]
    building = [*tbb, _row("RECORD_GENERATION", "WAITING_FOR_END", "nexuslims")]
    agreed = bt.LedgerEntry("s", 1, bt.fingerprint(tbb), bt.fingerprint(tbb), "", "copied_in")
    assert bridge.decide(tbb, [], None).action is bridge.Action.COPY_IN
    assert bridge.decide(tbb, tbb, agreed).action is bridge.Action.NONE
    assert bridge.decide(tbb, tbb, None).action is bridge.Action.ADOPT
    assert bridge.decide(tbb, building, agreed).action is bridge.Action.BUILDING
    assert bridge.decide(tbb, built, agreed).action is bridge.Action.COPY_OUT
    half = [_row("START", "TO_BE_BUILT")]
    assert bridge.decide(half, [], None).action is bridge.Action.NOT_READY
    mismatch = [_row("START", "TO_BE_BUILT"), _row("END", "TO_BE_BUILT", user="v")]
    assert bridge.decide(mismatch, [], None).action is bridge.Action.NOT_READY
    changed_pg = [_row("START", "TO_BE_BUILT", "w"), _row("END", "TO_BE_BUILT", "w")]
    d = bridge.decide(changed_pg, built, agreed)
    assert d.action is bridge.Action.CONFLICT and "both sides" in d.reason
    assert bridge.decide(done, [], None).action is bridge.Action.NONE
    # A time NexusLIMS cannot read would stop its whole build run: never copied.
    unreadable = [_row("START", "TO_BE_BUILT"), _row("END", "TO_BE_BUILT", ts="not a time")]
    d = bridge.decide(unreadable, [], None)
    assert d.action is bridge.Action.NOT_READY and "'not a time' is not ISO-8601" in d.reason


def test_a_fingerprint_is_the_one_already_stored_in_ledgers() -> None:
    """Ledgers of running bridges keep fingerprints: if their form changed, every bridged
    session would look changed on both sides and become a conflict. The value is the one
    the first bridge wrote for these rows (order of rows, ids and extra keys do not count)."""
    rows = [
        {"event_type": "START", "timestamp": "2026-03-08T01:59:00-05:00", "user": None,
         "instrument": "TEM-1", "record_status": "TO_BE_BUILT", "id_session_log": 7},
        {"event_type": "END", "timestamp": "2026-03-08T03:01:00-04:00", "user": "\u00fcn\u00ef",
         "instrument": "TEM-1", "record_status": "TO_BE_BUILT", "id_session_log": 9},
    ]  # fmt: skip
    assert bt.fingerprint(rows) == "97c944e529e0720acf4cba6876edf75c"
    assert bt.fingerprint([{**rows[1], "id_session_log": 1}, rows[0]]) == bt.fingerprint(rows)
    assert bt.fingerprint([]) == ""


# --------------------------------------------------------------------------------------------
# end to end with the real NexusLIMS


def test_real_nexuslims_builds_what_postgres_queued_and_the_result_comes_back(
    pg_db: str, nx_file: str, nexuslims_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queued = [add_session(pg_db, n, user=f"user{n}") for n in range(3)]
    open_sid = add_session(pg_db, 5, end=False)
    done_sid = add_session(pg_db, 6, status="COMPLETED")
    half = add_session(pg_db, 7, end_user="someone-else")  # NexusLIMS could not pair it

    out = bridged(pg_db, nx_file, capsys)
    assert "Copied 3 session(s)" in out and half in out

    found = nexuslims_sessions_to_build(nexuslims_python, Path(nx_file))
    assert "error" not in found, found
    assert sorted(s["session_identifier"] for s in found["sessions"]) == sorted(queued)
    by_sid = {s["session_identifier"]: s for s in found["sessions"]}
    for n, sid in enumerate(queued):
        assert by_sid[sid]["user"] == f"user{n}"
        assert by_sid[sid]["instrument"] == PID
    sq = rows_by_session(nx_file)
    assert open_sid not in sq and done_sid not in sq and half not in sq
    assert {r[0]: r for r in sq[queued[0]]} == {r[0]: r for r in rows_by_session(pg_db)[queued[0]]}
    # The instrument NexusLIMS needs came along.
    assert raw_query(nx_file, "SELECT instrument_pid, timezone FROM instruments") == [
        (PID, "America/New_York")
    ]

    marked = nexuslims_mark_built(nexuslims_python, Path(nx_file), queued[1], "COMPLETED")
    assert marked.get("marked") == queued[1], marked
    bridged(pg_db, nx_file, capsys)
    pg_rows = raw_query(
        pg_db,
        'SELECT event_type, record_status, "user" FROM session_log '
        "WHERE session_identifier = ? ORDER BY id_session_log",
        (queued[1],),
    )
    assert pg_rows == [
        ("START", "COMPLETED", "user1"),
        ("END", "COMPLETED", "user1"),
        ("RECORD_GENERATION", "COMPLETED", "nexuslims"),
    ]
    assert rows_by_session(pg_db)[queued[1]] == rows_by_session(nx_file)[queued[1]]
    for sid in (queued[0], queued[2]):
        assert {r[1] for r in rows_by_session(pg_db)[sid]} == {"TO_BE_BUILT"}

    # A third run copies nothing: both databases stay exactly as they are.
    before = (dump_session_log(pg_db), dump_session_log(nx_file))
    out = bridged(pg_db, nx_file, capsys)
    assert "Copied 0 session(s) to NexusLIMS and 0 result(s)" in out
    assert (dump_session_log(pg_db), dump_session_log(nx_file)) == before
    check_invariants(pg_db, nx_file)


def test_a_requeue_in_postgres_reaches_nexuslims_again(
    pg_db: str, nx_file: str, nexuslims_python: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    nexuslims_mark_built(nexuslims_python, Path(nx_file), sid, "ERROR")
    bridged(pg_db, nx_file, capsys)
    assert {r[1] for r in rows_by_session(pg_db)[sid]} == {"ERROR"}

    admin_actions.requeue(sid, login="root", administrators=["root"], engine=pg_db)
    bridged(pg_db, nx_file, capsys)
    found = nexuslims_sessions_to_build(nexuslims_python, Path(nx_file))
    assert [s["session_identifier"] for s in found["sessions"]] == [sid]
    nexuslims_mark_built(nexuslims_python, Path(nx_file), sid, "COMPLETED")
    bridged(pg_db, nx_file, capsys)
    pg = rows_by_session(pg_db)[sid]
    assert [r[0] for r in pg].count("RECORD_GENERATION") == 2
    assert {r[1] for r in pg} == {"COMPLETED"}
    check_invariants(pg_db, nx_file)


# --------------------------------------------------------------------------------------------
# conflicts


def test_changed_on_both_sides_is_a_conflict_left_alone_until_resolved(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = add_session(pg_db, 1)
    other = add_session(pg_db, 2)
    bridged(pg_db, nx_file, capsys)
    # NexusLIMS builds the session while staff change it in PostgreSQL (fix the user).
    nexuslims_build(nx_file, sid, "COMPLETED")
    raw_execute(
        pg_db, 'UPDATE session_log SET "user" = ? WHERE session_identifier = ?', ("bob", sid)
    )
    nexuslims_build(nx_file, other, "COMPLETED")
    before_pg, before_sq = rows_by_session(pg_db)[sid], rows_by_session(nx_file)[sid]

    code, out, _ = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 1
    assert f"conflict {sid}" in out and "changed on both sides" in out
    assert rows_by_session(pg_db)[sid] == before_pg  # nothing overwritten, either side
    assert rows_by_session(nx_file)[sid] == before_sq
    assert {r[1] for r in rows_by_session(pg_db)[other]} == {"COMPLETED"}  # others go on

    # Reported once, shown by --status and kept until resolved.
    run(capsys, "--from", pg_db, "--to", nx_file)
    assert raw_query(pg_db, "SELECT count(*) FROM nexus_logger_bridge_conflict") == [(1,)]
    code, out, _ = run(capsys, "--from", pg_db, "--status")
    assert code == 0 and "1 conflict(s) wait for a decision" in out and sid in out
    # Waiting for a decision, not for a copy; and doctor says so (it said "OK, 1 waits").
    assert read_status(pg_db).waiting_in == 0
    check = check_bridge(get_engine(pg_db), 24)
    assert not check.ok and "1 session(s) changed both here and in NexusLIMS" in check.message
    assert "--resolve" in check.fix
    # Beside a conflict, late sessions and the bridge's own error are still said.
    add_session(pg_db, 3)
    bridge.record_error(pg_db, RuntimeError("the file is locked"))
    check = check_bridge(get_engine(pg_db), 1e-9)
    assert "1 finished session(s) have waited longer" in check.message
    assert "Its last error: the file is locked" in check.message
    assert "--resolve" in check.fix and "check the bridge" in check.fix

    code, out, _ = run(
        capsys, "--from", pg_db, "--to", nx_file, "--resolve", sid, "--keep", "nexuslims"
    )
    assert code == 0, out
    code, out, _ = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 0, out
    pg = rows_by_session(pg_db)[sid]
    assert {r[1] for r in pg} == {"COMPLETED"}
    assert [r[0] for r in pg].count("RECORD_GENERATION") == 1
    status = read_status(pg_db)
    assert status is not None and status.open_conflicts == []


def test_session_already_in_the_file_with_other_content_is_a_conflict(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    # Content that differs, with no ledger entry on either side, is never overwritten.
    raw_execute(nx_file, "DELETE FROM nexus_logger_bridge_ledger")
    raw_execute(pg_db, "DELETE FROM nexus_logger_bridge_ledger")
    raw_execute(
        nx_file,
        "UPDATE session_log SET record_status = 'ERROR' WHERE session_identifier = ?",
        (sid,),
    )
    code, out, _ = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 1 and "no bridge copied it there" in out


# --------------------------------------------------------------------------------------------
# one bridge per pair; the file's identity


def test_a_second_bridge_is_refused_with_a_clear_message(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    with bridge.open_pair(pg_db, nx_file):
        code, _, err = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 3  # another bridge runs: nothing copied
    assert "Another bridge is already writing NexusLIMS's file" in err
    # Holding only the PostgreSQL lock (a bridge on another machine, another path to the file).
    with psycopg.connect(pg_dsn(pg_db), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_advisory_lock(%s, %s)",
            (bt_namespace(), bridge.advisory_key(bridge.LOCK_NAME)),
        )
        code, _, err = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 3  # another bridge runs: nothing copied
    assert "Another bridge is already running for" in err and "Traceback" not in err
    assert bridged(pg_db, nx_file, capsys)  # free again


def bt_namespace() -> int:
    return bridge.ADVISORY_NAMESPACE


def test_a_database_is_not_bridged_to_a_second_file_by_mistake(
    pg_db: str, nx_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    second = str(tmp_path / "other.sqlite")
    code, _, err = run(capsys, "--from", pg_db, "--to", second, "--create")
    assert code == 4 and "bridged to another NexusLIMS file" in err  # refused (README table)
    code, out, err = run(capsys, "--from", pg_db, "--to", second, "--new-file")
    assert code == 0, err
    assert len(rows_by_session(second)) == 1  # re-copied into the replacement file


def test_a_missing_file_is_a_clear_error_recorded_for_staff(
    pg_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--from", pg_db, "--to", str(tmp_path / "nope.sqlite"))
    assert code == 6 and "does not exist" in err and "--create" in err  # as any missing file
    status = read_status(pg_db)
    assert status is not None and "does not exist" in (status.last_error or "")
    assert status.error_is_current()
    code, out, _ = run(capsys, "--from", pg_db, "--status")
    assert "Last error" in out


def test_status_counts_what_waits_each_way(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    add_session(pg_db, 2)
    add_session(pg_db, 3)
    nexuslims_build(nx_file, first)
    code, out, _ = run(capsys, "--from", pg_db, "--to", nx_file, "--status", "--format", "json")
    data = json.loads(out)
    assert data["waiting_in"] == 2
    assert data["now"]["planned"]["copy_in"] == 2 and data["now"]["planned"]["copy_out"] == 1
    assert data["last_success_at"]
    # --status copies nothing.
    assert len(rows_by_session(nx_file)) == 1


# --------------------------------------------------------------------------------------------
# real processes: --watch with SIGTERM, kill -9 at every step and at random moments


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEXUS_LOGGER_HOME": str(home), **extra}
    return env


def _bridge_cmd(pg: str, path: str, *more: str) -> list[str]:
    return [sys.executable, "-m", "nexus_logger", "bridge", "--from", pg, "--to", path, *more]


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX; Ctrl+C is the same handler")
def test_watch_runs_until_sigterm_and_stops_cleanly(
    pg_db: str, nx_file: str, isolated_home: Path
) -> None:
    add_session(pg_db, 1)
    proc = subprocess.Popen(
        _bridge_cmd(pg_db, nx_file, "--create", "--watch", "--interval", "0.2"),
        env=_env(isolated_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sessions_so_far(nx_file) == 1:
                break
            time.sleep(0.1)
        add_session(pg_db, 2)
        while time.monotonic() < deadline and len(rows_by_session(nx_file)) < 2:
            time.sleep(0.1)
        assert len(rows_by_session(nx_file)) == 2  # picked up by a later pass
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Bridge stopped." in out
    with bridge.open_pair(pg_db, nx_file):  # the locks were released
        pass


STEPS = [
    "copy_in_begin",
    "copy_in_commit",
    "copy_in_committed",
    "copy_out_begin",
    "copy_out_commit",
    "copy_out_committed",
]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_then_rerun_copies_exactly_once(
    pg_db: str, nx_file: str, isolated_home: Path, step: str
) -> None:
    sids = [add_session(pg_db, n) for n in range(4)]
    subprocess.run(
        _bridge_cmd(pg_db, nx_file, "--create"),
        env=_env(isolated_home),
        check=True,
        capture_output=True,
    )
    for sid in sids[:2]:
        nexuslims_build(nx_file, sid, "COMPLETED")
    sids.append(add_session(pg_db, 5))
    killed = subprocess.run(
        _bridge_cmd(pg_db, nx_file),
        env=_env(isolated_home, **{bridge.FAULT_ENV: f"bridge:{step}"}),
        capture_output=True,
        text=True,
    )
    assert killed.returncode in (-9, 137), killed.stderr
    again = subprocess.run(
        _bridge_cmd(pg_db, nx_file), env=_env(isolated_home), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    check_invariants(pg_db, nx_file)
    assert len(rows_by_session(nx_file)) == 5
    for sid in sids[:2]:
        assert [r[0] for r in rows_by_session(pg_db)[sid]].count("RECORD_GENERATION") == 1


@pytest.mark.slow
def test_kill_9_at_random_moments_in_a_loop(pg_db: str, nx_file: str, isolated_home: Path) -> None:
    import random

    from tests.helpers_bridge import add_sessions_bulk

    rng = random.Random(18)
    env = _env(isolated_home, NEXUS_LOGGER_BRIDGE_BATCH="20")
    subprocess.run(
        _bridge_cmd(pg_db, nx_file, "--create"), env=env, check=True, capture_output=True
    )
    kills = partial = 0
    for round_ in range(12):
        add_sessions_bulk(pg_db, 150, offset=round_ * 1000)
        # NexusLIMS builds some of what it has.
        queued = [
            s
            for s, rows in rows_by_session(nx_file).items()
            if {r[1] for r in rows} == {"TO_BE_BUILT"}
        ]
        for sid in rng.sample(queued, min(len(queued), 40)):
            nexuslims_build(nx_file, sid, rng.choice(["COMPLETED", "ERROR", "NO_FILES_FOUND"]))
        before = len(rows_by_session(nx_file))
        proc = subprocess.Popen(
            _bridge_cmd(pg_db, nx_file), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        # Kill it once it has begun to copy (however slowly the machine starts Python), at a
        # random moment after that.
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if len(rows_by_session(nx_file)) > before:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.2))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait(timeout=30)
        if before < len(rows_by_session(nx_file)) < before + 150:
            partial += 1  # killed between two batches of this run
    # The loop really killed runs, some of them in the middle of copying.
    assert kills >= 3 and partial >= 1, (kills, partial)
    final = subprocess.run(_bridge_cmd(pg_db, nx_file), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    check_invariants(pg_db, nx_file)
    pg_rows, sq_rows = rows_by_session(pg_db), rows_by_session(nx_file)
    assert len(sq_rows) == 12 * 150
    built = [s for s, rows in sq_rows.items() if any(r[0] == "RECORD_GENERATION" for r in rows)]
    assert built and all(pg_rows[s] == sq_rows[s] for s in built)
    dispose_engines()


# --------------------------------------------------------------------------------------------
# doctor


def test_doctor_warns_about_finished_sessions_no_bridge_copied(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.core.setup.doctor import check_bridge, run_checks

    add_session(pg_db, 1)  # ended on 2 November 2026, weeks before "now"
    add_session(pg_db, 2, end=False)  # open sessions do not count
    check = check_bridge(get_engine(pg_db), 24)
    assert not check.ok and check.fix
    assert "1 finished session(s) have waited longer than 24 h" in check.message
    assert "no bridge has ever run" in check.message
    young = check_bridge(get_engine(pg_db), 24 * 365)
    assert young.ok  # younger than the configured age, but it says no bridge has run yet
    assert young.message.endswith("No bridge has run for this database yet.")
    checks = run_checks(load_settings(overrides={"database": pg_db}))
    assert [c.name for c in checks if c.name == "bridge" and not c.ok] == ["bridge"]

    bridged(pg_db, nx_file, capsys)
    check = check_bridge(get_engine(pg_db), 24)
    assert check.ok, check
    assert "No bridge has run" not in check.message
    assert check_bridge(get_engine(nx_file), 24).ok  # an SQLite file needs no bridge


# --------------------------------------------------------------------------------------------
# the bridge's own PostgreSQL account, with exactly the rights docs/deployment.md grants


def _documented_grants() -> str:
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    section = text[text.index("### Database accounts") :]
    return section[
        section.index("```sql") + len("```sql") : section.index("```", section.index("```sql") + 6)
    ]


def test_the_documented_grants_are_enough_for_the_bridge(
    pg_db: str, pg_cluster, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pgcluster import PgCluster

    assert isinstance(pg_cluster, PgCluster)
    dbname = pg_db.rsplit("/", 1)[1]
    first = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)  # the owner's first pass creates the bridge's tables
    # As documented: the roles script of postgres-roles.md, then the bridge's block.
    from nexus_logger.core.staff import admin_actions

    pg_cluster.execute(
        admin_actions.postgres_roles_sql(
            database=dbname,
            instrument_role="nexus_instrument",
            admin_role="nexus_admin",
            bridge_role="nexus_bridge",
            instrument_map=[],
        ),
        dbname=dbname,
    )
    sql = _documented_grants()
    assert "IN ROLE nexus_bridge" in sql  # a login in the script's role, not that role again
    sql = sql.replace(" PASSWORD '...'", "")
    try:
        pg_cluster.execute(sql, dbname=dbname)
    except psycopg.errors.DuplicateObject:  # the login, from an earlier test on this cluster
        pg_cluster.execute(sql.split(";", 1)[1], dbname=dbname)

    as_bridge = pg_db.replace("//postgres@", "//nexus_bridge_login@")
    nexuslims_build(nx_file, first, "NO_FILES_FOUND")
    second = add_session(pg_db, 2)
    code, out, err = run(capsys, "--from", as_bridge, "--to", nx_file)
    assert code == 0, out + err
    assert "Copied 1 session(s) to NexusLIMS and 1 result(s) back" in out
    assert second in rows_by_session(nx_file)
    assert {r[1] for r in rows_by_session(pg_db)[first]} == {"NO_FILES_FOUND"}
    check_invariants(pg_db, nx_file)
    # A login in the instrument role (session_log rights from docs/postgres-roles.md's
    # script) can read the bridge's state for the Admin tab and doctor; the bridge's login can
    # never delete. The roles themselves are groups that cannot log in.
    pg_cluster.execute("GRANT SELECT ON session_log TO nexus_instrument", dbname=dbname)
    pg_cluster.execute(
        "DO $$ BEGIN CREATE ROLE pc_bridge_test LOGIN IN ROLE nexus_instrument; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    status = read_status(pg_db.replace("//postgres@", "//pc_bridge_test@"))
    assert status is not None and status.ever_ran
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        raw_execute(as_bridge, "DELETE FROM session_log")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        raw_execute(pg_db.replace("//postgres@", "//nexus_bridge@"), "SELECT 1")


# --------------------------------------------------------------------------------------------
# a NexusLIMS build running while the bridge writes


_NEXUSLIMS_LOOP = r"""
import json, sys, time
from pathlib import Path
from nexusLIMS.db.enums import RecordStatus
from nexusLIMS.db.session_handler import get_sessions_to_build
stop, counts = Path(sys.argv[1]), {"runs": 0, "built": 0, "half": 0, "errors": []}
while not stop.exists() or counts["runs"] < 3:
    counts["runs"] += 1
    try:
        sessions = get_sessions_to_build()
    except ValueError as err:  # a START without its END: the whole build run would stop
        counts["half"] += 1
        continue
    except Exception as err:
        counts["errors"].append(repr(err)[:200])
        continue
    for s in sessions[:5]:
        try:
            s.insert_record_generation_event()
            s.update_session_status(RecordStatus.COMPLETED)
            counts["built"] += 1
        except Exception as err:  # e.g. "database is locked" after NexusLIMS's 5 s
            counts["errors"].append(repr(err)[:200])
print(json.dumps(counts))
"""


@pytest.mark.slow
def test_a_nexuslims_build_running_meanwhile_is_not_disturbed(
    pg_db: str,
    nx_file: str,
    nexuslims_python: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.helpers_bridge import add_sessions_bulk
    from tests.nexuslims_ref import run_in_nexuslims

    monkeypatch.setenv("NEXUS_LOGGER_BRIDGE_BATCH", "100")
    add_session(pg_db, 0)
    bridged(pg_db, nx_file, capsys)
    add_sessions_bulk(pg_db, 2000, offset=100)
    stop = tmp_path / "stop"
    result: dict = {}
    import threading

    def nexuslims() -> None:
        result.update(run_in_nexuslims(nexuslims_python, _NEXUSLIMS_LOOP, Path(nx_file), str(stop)))

    thread = threading.Thread(target=nexuslims)
    thread.start()
    try:
        for _ in range(4):  # copy in, copy back what it built meanwhile, ...
            bridged(pg_db, nx_file, capsys)
    finally:
        stop.touch()
        thread.join(timeout=120)
    assert result["errors"] == [] and result["half"] == 0, result
    assert result["built"] > 0 and result["runs"] >= 3, result
    bridged(pg_db, nx_file, capsys)
    check_invariants(pg_db, nx_file)
    done = [
        s for s, rows in rows_by_session(pg_db).items() if {r[1] for r in rows} == {"COMPLETED"}
    ]
    assert len(done) == result["built"]


def test_resolve_keep_postgres_sends_postgres_version_again(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    nexuslims_build(nx_file, sid, "ERROR")
    raw_execute(
        pg_db, 'UPDATE session_log SET "user" = ? WHERE session_identifier = ?', ("bob", sid)
    )
    code, out, _ = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 1 and sid in out
    code, out, _ = run(
        capsys, "--from", pg_db, "--to", nx_file, "--resolve", sid, "--keep", "postgres"
    )
    assert code == 0 and "PostgreSQL's version is kept" in out
    bridged(pg_db, nx_file, capsys)
    sq = {r[0]: r for r in rows_by_session(nx_file)[sid]}
    assert sq["START"][1:3] == ("TO_BE_BUILT", "bob") and sq["END"][1:3] == ("TO_BE_BUILT", "bob")
    assert sq["RECORD_GENERATION"][1] == "ERROR"  # NexusLIMS's history stays in its file


def test_resolve_refuses_a_session_in_no_conflict(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str], nexuslims_python: Path
) -> None:
    """A session NexusLIMS built, with no conflict: settling it "for PostgreSQL" sent its
    TO_BE_BUILT over the record and NexusLIMS built it a second time."""
    sid = add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    nexuslims_build(nx_file, sid, "COMPLETED")  # its result waits for the next run
    code, out, err = run(
        capsys, "--from", pg_db, "--to", nx_file, "--resolve", sid, "--keep", "postgres"
    )
    assert code == 4, out + err
    assert f"No conflict waits for session {sid}" in err
    bridged(pg_db, nx_file, capsys)
    assert nexuslims_sessions_to_build(nexuslims_python, Path(nx_file)) == {"sessions": []}
    assert {r[1] for r in rows_by_session(nx_file)[sid]} == {"COMPLETED"}


def test_a_bridge_refused_by_the_lock_leaves_the_file_binding_alone(
    pg_db: str, nx_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second bridge started by mistake on another file is refused (another bridge runs):
    it had already bound PostgreSQL to its file, so the real bridge then refused to run
    ("bridged to another NexusLIMS file") and named the wrong file as the right one."""
    add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    mistake = str(tmp_path / "mistake.sqlite")
    with bridge.open_pair(pg_db, nx_file):  # the real bridge, running
        code, out, err = run(capsys, "--from", pg_db, "--to", mistake, "--create", "--new-file")
        assert code == 3, out + err
    add_session(pg_db, 2)
    code, out, err = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 0, out + err
    assert len(rows_by_session(nx_file)) == 2
    assert read_status(pg_db).file_path == str(Path(nx_file).absolute())


def test_a_lock_file_it_cannot_create_is_recorded_for_status(
    pg_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's folder refuses new files (a read-only mount; here an immutable folder):
    the run fails with what to do, and --status shows that error (it said no bridge had run)."""
    import subprocess as sp

    folder = tmp_path / "nexuslims"
    folder.mkdir()
    target = str(folder / "nexuslims.sqlite")
    bridged(pg_db, target, capsys)  # its tables are made; then the folder turns read-only
    (folder / "nexuslims.sqlite.nexus-logger-bridge.lock").unlink(missing_ok=True)
    if sp.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is refused here (not root, or the file system has no such flag)")
    try:
        code, out, err = run(capsys, "--from", pg_db, "--to", target)
    finally:
        sp.run(["chattr", "-i", str(folder)], check=True)
    assert code == 6 and "cannot create its lock file" in err, out + err
    status = read_status(pg_db)
    assert status.last_error and "cannot create its lock file" in status.last_error


def test_an_error_before_the_last_success_is_said_as_past() -> None:
    """The Admin tab shows "Last error" in red and doctor repeats it only while it is the
    current state; an error the bridge has run well after is an earlier one."""
    from nexus_logger.core.bridge.bridge_status import BridgeStatus

    status = BridgeStatus(
        ever_ran=True,
        waiting_in=0,
        last_error="NexusLIMS's file does not exist",
        last_error_at="2026-12-07T08:00:00+00:00",
        last_success_at="2026-12-07T09:00:00+00:00",
        last_run_at="2026-12-07T09:00:00+00:00",
    )
    assert not status.error_is_current()
    assert any(line.startswith("Earlier error") for line in status.lines())


def test_a_file_replaced_while_the_bridge_runs_is_named_as_replaced(
    pg_db: str, nx_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """NexusLIMS's file re-created under a running bridge: each pass said the file had "no
    NexusLIMS tables" and told to run init-db, although it had them; now it says the file was
    replaced and copies nothing into it."""
    add_session(pg_db, 1)
    bridged(pg_db, nx_file, capsys)
    with bridge.open_pair(pg_db, nx_file) as pair:
        os.remove(nx_file)
        assert main(["init-db", nx_file]) == 0
        add_session(pg_db, 2)
        with pytest.raises(NexusLoggerError, match="was replaced while the bridge ran"):
            bridge.run_once(pair)
    assert rows_by_session(nx_file) == {}
    dispose_engines()  # started again: a new process
    code, out, err = run(capsys, "--from", pg_db, "--to", nx_file)
    assert code == 4 and "re-created or restored from a copy" in err, out + err
    code, out, err = run(capsys, "--from", pg_db, "--to", nx_file, "--new-file")
    assert code == 0, out + err
    assert len(rows_by_session(nx_file)) == 2  # what waited is copied into the new file
