"""The problems panel's core and ``nexus-logger check``: every problem type, built as rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nexus_logger.cli import main
from nexus_logger.core.db.engine import is_url
from nexus_logger.core.errors import Conflict
from nexus_logger.core.staff import admin_actions
from nexus_logger.core.staff.problems import ProblemKind, find_problems
from tests.helpers_admin import NOW, build_problem_db, insert_rows, ny, raw_execute, session
from tests.nexuslims_ref import nexuslims_sessions_to_build, run_in_nexuslims


def test_every_problem_type_is_found_with_its_rows(db: str) -> None:
    expected = build_problem_db(db, unknown_instrument=not is_url(db))
    problems = find_problems(long_session_hours=12, now=NOW, engine=db)

    found = {(p.session_identifier, p.kind.value): p for p in problems}
    assert set(found) == {(ident, e.kind) for ident, e in expected.items()}
    for ident, exp in expected.items():
        problem = found[(ident, exp.kind)]
        assert problem.row_ids == exp.row_ids, ident
        # On PostgreSQL NexusLIMS builds from the bridge's copy, which leaves such a session
        # out: it is not built, but it stops nothing (the Admin tab said it stopped the run).
        assert problem.blocks_build is (exp.blocks_build and not is_url(db)), ident
        if exp.blocks_build:
            said = problem.explanation
            assert ("stops the whole build run" in said) is not is_url(db), ident
            assert ("the bridge leaves such a session out" in said) is is_url(db), ident
        assert problem.fix == exp.fix, ident
        assert problem.explanation and problem.action, ident
        assert problem.explanation.endswith(".") and problem.action.endswith("."), ident
    # Most harmful first: every problem that stops the build run comes before the others.
    flags = [p.blocks_build for p in problems]
    assert flags == sorted(flags, reverse=True)
    assert found[("p-user", "user_mismatch")].users == ("frank", "grace")
    assert set(ProblemKind) == {ProblemKind(e.kind) for e in expected.values()} | (
        {ProblemKind.UNKNOWN_INSTRUMENT} if is_url(db) else set()
    )


def test_healthy_database_has_no_problems(sqlite_db: str) -> None:
    session(sqlite_db, "a", status="COMPLETED", generations=2)
    session(sqlite_db, "b", user="bob", start_h=48, end_h=47)  # after a, not over it
    session(sqlite_db, "c", user="carol", status="WAITING_FOR_END", start_h=2, end_h=None)
    assert find_problems(long_session_hours=12, now=NOW, engine=sqlite_db) == []


def test_long_session_limit_is_configurable(sqlite_db: str, isolated_home: Path) -> None:
    session(sqlite_db, "open", status="WAITING_FOR_END", start_h=5, end_h=None)

    def kinds(**kw: object) -> list[str]:
        return [p.kind.value for p in find_problems(now=NOW, engine=sqlite_db, **kw)]

    assert kinds(long_session_hours=12) == []
    assert kinds(long_session_hours=4) == ["long_open_session"]
    assert kinds() == []  # the default setting: 12 h
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("long_session_hours = 2.5\n")
    assert kinds() == ["long_open_session"]


def test_reference_fixture_only_reports_its_open_session(reference_db: str) -> None:
    problems = find_problems(long_session_hours=12, engine=reference_db)
    assert [(p.kind, p.row_ids) for p in problems] == [(ProblemKind.LONG_OPEN_SESSION, (19,))]
    assert "dave" in problems[0].explanation


def test_legacy_fixture_reports_naive_timestamps(legacy_db: str) -> None:
    kinds = {p.kind for p in find_problems(long_session_hours=12, engine=legacy_db)}
    assert ProblemKind.NAIVE_TIMESTAMP in kinds
    assert not any(k is ProblemKind.BAD_TIMESTAMP for k in kinds)


def test_check_command_exit_codes_and_formats(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    session(sqlite_db, "fine", status="COMPLETED")
    assert main(["check", "--db", sqlite_db]) == 0
    assert "No problems found" in capsys.readouterr().out

    insert_rows(
        sqlite_db,
        [
            ("broken", "TEST-TEM-001", ny(3), "START", "TO_BE_BUILT", "frank"),
            ("broken", "TEST-TEM-001", ny(2), "END", "TO_BE_BUILT", "grace"),
        ],
    )
    assert main(["check", "--db", sqlite_db, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problem_count"] == 1 and data["blocking_count"] == 1
    assert data["problems"][0]["kind"] == "user_mismatch"
    assert data["problems"][0]["session_identifier"] == "broken"

    assert main(["check", "--db", sqlite_db]) == 1
    text = capsys.readouterr().out
    assert "1 problem; 1 stops the NexusLIMS build run." in text
    assert "What to do: Fix the user mismatch" in text
    assert "broken" in text and "YES" in text


def test_check_long_hours_option(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    session(sqlite_db, "open", status="WAITING_FOR_END", start_h=0, end_h=None)  # started at NOW
    # NOW is in the past, so the session has been open for a while; a huge limit hides it.
    assert main(["check", "--db", sqlite_db, "--long-hours", "1000000"]) == 0
    capsys.readouterr()
    assert main(["check", "--db", sqlite_db, "--long-hours", "1", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"][0]["kind"] == "long_open_session"


def test_check_names_an_instrument_whose_time_zone_nobody_can_read(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """'Mars/Olympus': nexus-logger writes that instrument's times in UTC and NexusLIMS's
    pytz refuses the name; check said nothing, session status showed the name as a zone."""
    raw_execute(
        sqlite_db,
        "UPDATE instruments SET timezone = 'Mars/Olympus' WHERE instrument_pid = 'TEST-SEM-002'",
    )
    assert main(["check", "--db", sqlite_db]) == 1
    out = capsys.readouterr().out
    assert "Instrument TEST-SEM-002" in out and "'Mars/Olympus', which is not a time zone" in out
    assert main(["check", "--db", sqlite_db, "--format", "json"]) == 1
    (sentence,) = json.loads(capsys.readouterr().out)["instrument_problems"]
    assert "IANA name" in sentence
    assert main(["session", "status", "--db", sqlite_db, "--instrument", "TEST-SEM-002"]) == 0
    assert "not a time zone name: times in UTC" in capsys.readouterr().out


def test_blocking_problems_agree_with_real_nexuslims(
    sqlite_db: str, nexuslims_python: Path, tmp_path: Path
) -> None:
    """What check calls blocking makes the real back-end stop; the admin fixes unblock it."""
    session(sqlite_db, "good", user="bob")
    insert_rows(
        sqlite_db,
        [
            ("mismatch", "TEST-TEM-001", ny(30), "START", "TO_BE_BUILT", "frank"),
            ("mismatch", "TEST-TEM-001", ny(29), "END", "TO_BE_BUILT", "grace"),
            ("end-waiting", "TEST-SEM-002", ny(28), "START", "TO_BE_BUILT", "erin"),
            ("end-waiting", "TEST-SEM-002", ny(27), "END", "WAITING_FOR_END", "erin"),
            ("no-end", "TEST-FIB-003", ny(26), "START", "TO_BE_BUILT", "dave"),
        ],
    )
    copy = tmp_path / "before.sqlite"
    shutil.copyfile(sqlite_db, copy)
    assert "error" in nexuslims_sessions_to_build(nexuslims_python, copy)
    blocking = {p.session_identifier for p in find_problems(engine=sqlite_db) if p.blocks_build}
    assert blocking == {"mismatch", "end-waiting", "no-end"}

    admins = ["root"]
    admin_actions.fix_user(
        "mismatch", "frank", login="root", administrators=admins, engine=sqlite_db
    )
    admin_actions.requeue("end-waiting", login="root", administrators=admins, engine=sqlite_db)
    admin_actions.force_end("no-end", NOW, login="root", administrators=admins, engine=sqlite_db)
    assert not [p for p in find_problems(engine=sqlite_db) if p.blocks_build]
    result = nexuslims_sessions_to_build(nexuslims_python, Path(sqlite_db))
    assert "error" not in result, result
    assert {s["session_identifier"] for s in result["sessions"]} == {
        "good",
        "mismatch",
        "end-waiting",
        "no-end",
    }
    users = {s["session_identifier"]: s["user"] for s in result["sessions"]}
    assert users["mismatch"] == "frank" and users["no-end"] == "dave"


_BUILD_FIRST_STEP = r"""
import json
from nexusLIMS.db.session_handler import get_sessions_to_build
found, failed = [], {}
for s in get_sessions_to_build():
    found.append(s.session_identifier)
    try:  # the record builder's first step for each session, inside its catch-all
        s.insert_record_generation_event()
    except Exception as err:
        failed[s.session_identifier] = type(err).__name__
print(json.dumps({"sessions": sorted(found), "failed": failed}))
"""


def test_an_unknown_instrument_fails_its_own_session_not_the_build_run(
    sqlite_db: str, nexuslims_python: Path
) -> None:
    """Real NexusLIMS lists the session (no ValueError) and fails only when it builds it (its
    run marks that one ERROR), so check must not say it stops the run."""
    session(sqlite_db, "good", user="bob")
    session(sqlite_db, "ghost", user="zoe", instrument="GHOST-999")
    result = run_in_nexuslims(nexuslims_python, _BUILD_FIRST_STEP, Path(sqlite_db))
    assert result == {"sessions": ["ghost", "good"], "failed": {"ghost": "AttributeError"}}
    (problem,) = [p for p in find_problems(engine=sqlite_db) if p.session_identifier == "ghost"]
    assert problem.kind is ProblemKind.UNKNOWN_INSTRUMENT
    assert not problem.blocks_build
    assert "marks this session ERROR" in problem.explanation


def test_end_before_start_says_re_queue_only_for_a_session_already_built(sqlite_db: str) -> None:
    """A TO_BE_BUILT session cannot be re-queued (it already is): correcting the time before
    the build run is all; one NexusLIMS built already needs the re-queue too."""
    session(sqlite_db, "waiting", user="mallory", start_h=20, end_h=22)
    session(sqlite_db, "built", user="mallory", status="ERROR", start_h=30, end_h=32)
    actions = {
        p.session_identifier: p.action
        for p in find_problems(engine=sqlite_db)
        if p.kind is ProblemKind.END_BEFORE_START
    }
    assert (
        "re-queue" not in actions["waiting"] and "before the next build run" in actions["waiting"]
    )
    assert "then re-queue the session" in actions["built"]
    with pytest.raises(Conflict, match="already TO_BE_BUILT"):
        admin_actions.requeue("waiting", login="root", administrators=["root"], engine=sqlite_db)


def test_hidden_names_keep_two_people_apart(sqlite_db: str) -> None:
    """With names hidden (a viewer who may not see people), a user mismatch must still read as
    two different users, and names stay out of every text."""
    from nexus_logger.core.staff.privacy import hide_one

    insert_rows(
        sqlite_db,
        [
            ("mm", "TEST-TEM-001", ny(5), "START", "TO_BE_BUILT", "frank"),
            ("mm", "TEST-TEM-001", ny(4), "END", "TO_BE_BUILT", "Frank.Smith"),
        ],
    )
    (problem,) = [p for p in find_problems(engine=sqlite_db) if p.session_identifier == "mm"]
    hidden = hide_one(problem)
    text = hidden.explanation + hidden.action
    assert "frank" not in text.lower() and "smith" not in text.lower()
    assert "(hidden user 1)" in hidden.explanation and "(hidden user 2)" in hidden.explanation
    assert set(hidden.users) == {"(hidden user 1)", "(hidden user 2)"}


def test_a_login_named_like_a_word_of_the_label_is_hidden_once(sqlite_db: str) -> None:
    """Names are replaced in one pass: a login called 'user' (common on instrument PCs) is
    not found again inside "(hidden user 2)" written for the other name."""
    from nexus_logger.core.staff.privacy import hide_one

    insert_rows(
        sqlite_db,
        [
            ("mm", "TEST-TEM-001", ny(5), "START", "TO_BE_BUILT", "alice"),
            ("mm", "TEST-TEM-001", ny(4), "END", "TO_BE_BUILT", "user"),
        ],
    )
    (problem,) = [p for p in find_problems(engine=sqlite_db) if p.session_identifier == "mm"]
    explanation = hide_one(problem).explanation
    assert "alice" not in explanation
    assert "'(hidden user 1)'" in explanation and "'(hidden user 2)'" in explanation
    assert "(hidden (hidden" not in explanation
