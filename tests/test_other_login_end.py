"""A session ended by another login (issue 14, req 4): it keeps its real user, the audit trail
says who ended it, and ``check`` still reports it when it lasted suspiciously long.

"End it and start mine" is :meth:`DurableLogger.replace` (what the window's owner dialog runs);
the database is a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import is_url
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.other_login import ACTION
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.staff import admin_actions
from nexus_logger.core.staff.problems import ProblemKind, find_problems
from tests.helpers_outbox import moved_away

TEM = "TEST-TEM-001"
TZ = "America/New_York"


def _os_login(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """This process runs as the OS account ``name`` (the trail records the real account, not
    the name LOGNAME/USER/USERNAME give)."""
    from nexus_logger.core.settings import identity

    monkeypatch.setattr(identity, "os_login", lambda: name)


def _roots_session_46_hours_ago(database: str) -> lifecycle.OpenSession:
    started = timestamps.now_in(TZ) - timedelta(hours=46)
    return lifecycle.start_session(instrument=TEM, user="root", at=started, engine=database).session


def _users(database: str, ident: str) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    from nexus_logger.core.db.engine import get_engine, read_connection
    from nexus_logger.core.db.models import session_log

    t = session_log
    with read_connection(get_engine(database)) as conn:
        found = conn.execute(
            select(t.c.event_type, t.c.user)
            .where(t.c.session_identifier == ident)
            .order_by(t.c.id_session_log)
        )
        return [tuple(r) for r in found]


def test_bob_ends_roots_session_it_keeps_root_and_is_audited_and_checked(db, tmp_path, monkeypatch):
    old = _roots_session_46_hours_ago(db)
    _os_login(monkeypatch, "bob")
    durable = DurableLogger(db, outbox_path=tmp_path / "outbox.sqlite")
    end_at = old.started + timedelta(hours=44)  # root's last heartbeat, say
    new = durable.replace(old, end_at=end_at, user="bob")
    assert new.created and new.session.user == "bob"
    assert _users(db, old.session_identifier) == [("START", "root"), ("END", "root")]

    (entry,) = admin_actions.list_audit(session_identifier=old.session_identifier, engine=db)
    assert entry.action == ACTION
    assert "Session of root" in entry.summary and "by bob, another login" in entry.summary
    assert [r["event_type"] for r in entry.after] == ["START", "END"]
    assert [r["record_status"] for r in entry.before] == ["WAITING_FOR_END"]
    if not is_url(db):
        assert admin_actions.check_audit_chain(db).ok  # chained like every audit row

    long = [
        p
        for p in find_problems(long_session_hours=12, engine=db)
        if p.session_identifier == old.session_identifier
    ]
    assert [p.kind for p in long] == [ProblemKind.LONG_SESSION]
    assert "44.0 h" in long[0].explanation and "'root'" in long[0].explanation


def test_the_trail_names_the_real_account_not_the_name_the_environment_gives(
    sqlite_db, tmp_path, monkeypatch
):
    """The ender's name came from LOGNAME/USER/USERNAME, which anyone can set: the Audit page
    named whoever the environment said (user trial). It names the process's real account."""
    old = _roots_session_46_hours_ago(sqlite_db)
    _os_login(monkeypatch, "carol")
    durable = DurableLogger(sqlite_db, outbox_path=tmp_path / "outbox.sqlite")
    durable.replace(old, end_at=old.started + timedelta(hours=1), user="bob")  # "bob" typed
    (entry,) = admin_actions.list_audit(session_identifier=old.session_identifier, engine=sqlite_db)
    assert entry.login == "carol" and "by carol, another login" in entry.summary


def test_a_session_ended_by_its_identifier_names_the_real_account(sqlite_db, monkeypatch, capsys):
    """'session end --session ID' of a session this PC does not have open ended it in the
    database with the name LOGNAME/USER gave: the trail said 'mallory' (review)."""
    from nexus_logger.cli import main

    sem = lifecycle.start_session(instrument="TEST-SEM-002", user="alice", engine=sqlite_db)
    ident = sem.session.session_identifier
    for var in ("LOGNAME", "USER", "USERNAME"):
        monkeypatch.setenv(var, "mallory")
    _os_login(monkeypatch, "carol")
    args = ["session", "end", "--db", sqlite_db, "--instrument", TEM, "--session", ident]
    assert main(args) == 0, capsys.readouterr().err
    (entry,) = admin_actions.list_audit(session_identifier=ident, engine=sqlite_db)
    assert entry.login == "carol" and "by mallory (OS account carol)" in entry.summary


def test_a_session_started_and_ended_with_the_same_user_option_is_not_audited(
    sqlite_db, monkeypatch, capsys
):
    """One shared OS account, the user named with --user: 'session end --user alice' of the
    session 'session start --user alice' made was audited as ended by another login (review)."""
    from nexus_logger.cli import main

    _os_login(monkeypatch, "lab-account")
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--user", "alice"]) == 0
    ident = lifecycle.find_open_session(TEM, engine=sqlite_db).session_identifier
    assert main(["session", "end", *base, "--user", "alice"]) == 0, capsys.readouterr().err
    assert admin_actions.list_audit(session_identifier=ident, engine=sqlite_db) == []


def test_an_own_session_ended_the_same_way_is_not_audited(sqlite_db, tmp_path):
    started = lifecycle.start_session(instrument=TEM, user="Bob", engine=sqlite_db).session
    durable = DurableLogger(sqlite_db, outbox_path=tmp_path / "outbox.sqlite")
    durable.replace(started, end_at=timestamps.now_in(TZ), user="bob")
    assert admin_actions.list_audit(engine=sqlite_db) == []


def test_an_end_of_roots_session_kept_offline_is_audited_by_whoever_sends_it(
    sqlite_db, tmp_path, monkeypatch
):
    old = _roots_session_46_hours_ago(sqlite_db)
    _os_login(monkeypatch, "bob")
    box = tmp_path / "outbox.sqlite"
    bobs = DurableLogger(sqlite_db, outbox_path=box, timeout=1.0)
    bobs.identify(instrument=TEM)  # the PC knows its instrument
    with moved_away(sqlite_db):
        kept = bobs.replace(old, end_at=old.started + timedelta(hours=2), user="bob")
    assert kept.queued
    assert admin_actions.list_audit(engine=sqlite_db) == []

    # The next nexus-logger on the PC (another login's, the scheduled sync) sends it.
    _os_login(monkeypatch, "svc-sync")
    report = DurableLogger(sqlite_db, outbox_path=box).sync()
    assert report.pending == 0 and not report.conflicts
    assert _users(sqlite_db, old.session_identifier) == [("START", "root"), ("END", "root")]
    (entry,) = admin_actions.list_audit(session_identifier=old.session_identifier, engine=sqlite_db)
    assert entry.action == ACTION and "by bob" in entry.summary
    # Who did it: bob, not the login whose process sent the END (the trail named that one).
    assert entry.login == "bob"
    assert admin_actions.check_audit_chain(sqlite_db).ok


def test_ending_another_logins_session_from_the_command_line_is_audited(
    db, capsys: pytest.CaptureFixture[str]
):
    """'session end --session ID' is the explicit choice of ending another's session: it ends
    it with its own user, and the trail says which login did it, as the window's choice does;
    ending one's own session that way marks nothing."""
    from nexus_logger.cli import main
    from nexus_logger.core.sessions.lifecycle import default_user

    theirs = lifecycle.start_session(instrument=TEM, user="root-elsewhere", engine=db).session
    ident = theirs.session_identifier
    assert main(["session", "end", "--db", db, "--session", ident]) == 0
    assert _users(db, ident) == [("START", "root-elsewhere"), ("END", "root-elsewhere")]
    (entry,) = admin_actions.list_audit(session_identifier=ident, engine=db)
    assert entry.action == ACTION
    assert f"by {default_user()}, another login" in entry.summary
    mine = lifecycle.start_session(instrument=TEM, user=default_user(), engine=db).session
    assert main(["session", "end", "--db", db, "--session", mine.session_identifier]) == 0
    assert admin_actions.list_audit(session_identifier=mine.session_identifier, engine=db) == []
    capsys.readouterr()
