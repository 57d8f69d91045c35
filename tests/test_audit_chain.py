"""The SQLite audit trail's hash chain: edited, deleted and hand-appended rows are reported."""

from __future__ import annotations

import json
import sqlite3

import pytest

from nexus_logger.cli import main
from nexus_logger.core.staff import admin_actions as aa
from nexus_logger.core.staff import audit_chain
from nexus_logger.core.staff.problems import audit_trail_problems
from tests.helpers_admin import session

ADMINS = ["root", aa.current_login()]


@pytest.fixture
def trail(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Three admin actions written by nexus-logger: an intact chain of three rows (listed by
    an administrator)."""
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", aa.current_login())
    for ident in ("a", "b", "c"):
        session(sqlite_db, ident, status="ERROR")
        aa.requeue(ident, administrators=ADMINS, engine=sqlite_db)
    assert audit_trail_problems(engine=sqlite_db) == []
    return sqlite_db


def _sql(path: str, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def test_intact_chain_is_quiet_and_rows_chain(trail: str, capsys) -> None:
    rows = sorted(aa.list_audit(engine=trail), key=lambda e: e.id)
    assert len(rows) == 3
    report = aa.check_audit_chain(trail)
    assert report.ok and report.chained_rows == 3
    assert main(["admin", "audit", "--db", trail]) == 0
    assert capsys.readouterr().err == ""


def test_the_trail_is_listed_to_whom_the_admin_view_is_shown(
    trail: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It names every session and staff's logins: 'admin audit' follows the admin view's rule
    (it listed everything to anyone while 'nexus-logger admin' refused them)."""
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", "someone-else")
    assert main(["admin", "audit", "--db", trail, "--format", "json"]) == 4
    assert "may not list the audit trail" in capsys.readouterr().err
    monkeypatch.setenv("NEXUS_LOGGER_ADMIN_TAB_FOR_EVERYONE", "true")
    assert main(["admin", "audit", "--db", trail, "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 3 and aa.current_login() not in {e["login"] for e in entries}


def test_a_row_added_by_hand_is_blamed_alone_not_the_next_real_one(trail: str) -> None:
    """A row inserted by hand without a hash, then a real admin action: the new row chained to
    nothing and was itself reported as not following the row before it (staff trial)."""
    _sql(
        trail,
        "INSERT INTO nexus_logger_audit (at, login, hostname, action, session_identifier, "
        "summary, before, after) VALUES ('2026-01-01T00:00:00+00:00', 'alice', 'pc', "
        "'force_end', 'x', 'forged', '[]', '[]')",
    )
    session(trail, "d", status="ERROR")
    aa.requeue("d", administrators=ADMINS, engine=trail)
    problems = audit_trail_problems(engine=trail)
    assert problems == [
        "Audit row 4 has no hash although earlier rows do: it was added or edited by hand, "
        "not by nexus-logger."
    ]


def test_edited_row_is_reported(trail: str, capsys) -> None:
    _sql(trail, "UPDATE nexus_logger_audit SET login = 'someone else' WHERE id = 2")
    problems = audit_trail_problems(engine=trail)
    assert problems == ["Audit row 2 was changed after it was written."]
    assert main(["check", "--db", trail]) == 1
    assert "Audit trail: Audit row 2 was changed" in capsys.readouterr().out


def test_a_time_edited_into_nonsense_is_shown_as_unreadable_not_as_1970(trail: str, capsys) -> None:
    _sql(trail, "UPDATE nexus_logger_audit SET at = 'yesterday' WHERE id = 2")
    entry = next(e for e in aa.list_audit(engine=trail) if e.id == 2)
    assert entry.at is None and entry.as_dict()["at"] is None
    assert main(["admin", "audit", "--db", trail]) == 0
    shown = capsys.readouterr()
    assert "(unreadable)" in shown.out and "1970" not in shown.out
    # Listed, but not as if the trail were intact.
    warning = "Warning: the audit trail is not as nexus-logger wrote it: Audit row 2 was changed"
    assert warning in shown.err
    assert "Audit row 2 was changed after it was written." in audit_trail_problems(engine=trail)


def test_deleted_middle_row_is_reported(trail: str) -> None:
    _sql(trail, "DELETE FROM nexus_logger_audit WHERE id = 2")
    assert any("does not follow" in p for p in audit_trail_problems(engine=trail))


def test_row_appended_by_hand_is_reported(trail: str) -> None:
    _sql(
        trail,
        "INSERT INTO nexus_logger_audit (at, login, action, session_identifier, summary, "
        "before, after) VALUES ('2025-01-01T00:00:00+00:00', 'root', 'requeue', 'a', 's', "
        "'[]', '[]')",
    )
    assert audit_trail_problems(engine=trail) == [
        "Audit row 4 has no hash although earlier rows do: it was added or edited by hand, "
        "not by nexus-logger."
    ]


def test_row_appended_with_a_made_up_hash_is_reported(trail: str) -> None:
    _sql(
        trail,
        "INSERT INTO nexus_logger_audit (at, login, action, session_identifier, summary, "
        "before, after, prev_hash, row_hash) VALUES ('2025-01-01T00:00:00+00:00', 'root', "
        "'requeue', 'a', 's', '[]', '[]', 'x', 'y')",
    )
    problems = audit_trail_problems(engine=trail)
    assert any("row 4 does not follow" in p for p in problems)
    assert any("row 4 was changed" in p for p in problems)


def test_newest_row_deleted_is_caught_by_this_pcs_anchor(trail: str) -> None:
    _sql(trail, "DELETE FROM nexus_logger_audit WHERE id = 3")
    problems = audit_trail_problems(engine=trail)
    assert problems == [
        "The audit trail no longer holds row 3 as this PC last saw it: it was shortened or "
        "rewritten since."
    ]
    # A PC that never saw the longer trail cannot know: what the docs say plainly.
    audit_chain.anchor_file().unlink()
    assert audit_trail_problems(engine=trail) == []


def test_anchor_only_moves_forward(trail: str) -> None:
    data = json.loads(audit_chain.anchor_file().read_text())
    (anchor,) = data.values()
    assert anchor["count"] == 3 and anchor["last_id"] == 3
