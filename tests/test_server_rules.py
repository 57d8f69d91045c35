"""The rules the PostgreSQL server enforces once the roles script ran (docs/postgres-roles.md).

Every forbidden action is done by hand, in SQL, with the instrument PC's own account: the
server must refuse it and leave every table as it was. The allowed ones are nexus-logger's own
start, note, heartbeat and end run as that account, and the bridge's writes as its account.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from nexus_logger.core import timestamps
from nexus_logger.core.errors import NexusLoggerError, ServerRule
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.settings.identity import os_login
from nexus_logger.core.staff import admin_actions as aa
from tests.helpers_admin import SEM, TEM, dump_session_log, ny, raw_execute, raw_query, session

pytestmark = pytest.mark.postgres

_TABLES = (
    "session_log",
    "nexus_logger_heartbeat",
    "nexus_logger_note",
    "nexus_logger_station",
    "nexus_logger_open_session",
    "nexus_logger_audit",
    "nexus_logger_role_instrument",
    "nexus_logger_trail",
)


@pytest.fixture
def server(pg_cluster, pg_db: str) -> dict[str, str]:
    """A database with the script applied (no create-tables before) and rows of both kinds.

    The script's three roles are groups (``inst_group``...); ``inst``, ``admin`` and
    ``bridge`` are a login in each, as docs/postgres-roles.md says to make them. The instrument
    login is mapped to TEST-TEM-001 only; TEST-SEM-002 has an open session, a heartbeat, a
    note and a station row written by the owner (another PC's rows).
    """
    dbname = make_url(pg_db).database
    suffix = uuid.uuid4().hex[:8]
    names = {"inst": f"pc_{suffix}", "admin": f"staff_{suffix}", "bridge": f"bridge_{suffix}"}
    groups = {f"{k}_group": f"{v}_group" for k, v in names.items()}
    pg_cluster.execute(roles_sql(dbname, names, groups), dbname=dbname)
    for key, login in names.items():
        pg_cluster.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE "{groups[key + "_group"]}"')
    session(pg_db, "sem-open", instrument=SEM, status="WAITING_FOR_END", end_h=None)
    session(pg_db, "tem-err", status="ERROR", generations=1)
    session(pg_db, "tem-built", status="TO_BE_BUILT")
    raw_execute(
        pg_db,
        "INSERT INTO nexus_logger_heartbeat VALUES ('sem-open', %s, %s, 'sem-pc')",
        (SEM, ny(1)),
    )
    raw_execute(pg_db, "INSERT INTO nexus_logger_note VALUES ('sem-open', 'theirs', %s)", (ny(1),))
    raw_execute(
        pg_db, "INSERT INTO nexus_logger_station VALUES ('sem-pc', %s, %s, 'x')", (SEM, ny(1))
    )
    return {
        "owner": pg_db,
        "dbname": dbname,
        **names,
        **groups,
        "inst_url": pg_cluster.url(dbname, user=names["inst"]),
        "admin_url": pg_cluster.url(dbname, user=names["admin"]),
        "bridge_url": pg_cluster.url(dbname, user=names["bridge"]),
    }


def roles_sql(dbname: str, logins: dict[str, str], groups: dict[str, str]) -> str:
    """The roles script for ``groups``, with the instrument login mapped to TEST-TEM-001."""
    return aa.postgres_roles_sql(
        database=dbname,
        instrument_role=groups["inst_group"],
        admin_role=groups["admin_group"],
        bridge_role=groups["bridge_group"],
        instrument_map=[(logins["inst"], TEM)],
    )


def _snapshot(owner: str) -> dict[str, list]:
    return {t: raw_query(owner, f"SELECT * FROM {t} ORDER BY 1") for t in _TABLES}


def _as(pg_cluster, server: dict[str, str], who: str) -> psycopg.Connection:
    return psycopg.connect(
        f"host=127.0.0.1 port={pg_cluster.port} user={server[who]} dbname={server['dbname']}",
        autocommit=True,
    )


FORBIDDEN_FOR_INSTRUMENT = {
    "update another instrument's status": (
        "UPDATE session_log SET record_status = 'TO_BE_BUILT' WHERE session_identifier = 'sem-open'"
    ),
    "forged END for another instrument": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('sem-open', 'TEST-SEM-002', '2025-02-10T12:00:00+01:00', "
        "'END', 'WAITING_FOR_END', 'alice')"
    ),
    "START on another instrument": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x1', 'TEST-SEM-002', '2025-02-10T12:00:00+01:00', "
        "'START', 'WAITING_FOR_END', 'alice')"
    ),
    "START already TO_BE_BUILT": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x2', 'TEST-TEM-001', '2025-02-10T07:00:00-05:00', "
        "'START', 'TO_BE_BUILT', 'alice')"
    ),
    "RECORD_GENERATION row": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('tem-built', 'TEST-TEM-001', "
        "'2025-02-10T07:00:00-05:00', 'RECORD_GENERATION', 'WAITING_FOR_END', 'alice')"
    ),
    "re-queue by hand": (
        "UPDATE session_log SET record_status = 'TO_BE_BUILT' WHERE session_identifier = 'tem-err'"
    ),
    "change own session's user": (
        "UPDATE session_log SET \"user\" = 'mallory' WHERE session_identifier = 'tem-built'"
    ),
    "change own session's time": (
        "UPDATE session_log SET timestamp = '2020-01-01T00:00:00-05:00' "
        "WHERE session_identifier = 'tem-built'"
    ),
    "delete session rows": "DELETE FROM session_log WHERE session_identifier = 'tem-built'",
    "START with an unreadable time": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x4', 'TEST-TEM-001', 'not a time', "
        "'START', 'WAITING_FOR_END', 'alice')"
    ),
    "START with a time without offset": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x5', 'TEST-TEM-001', '2025-02-10T07:00:00', "
        "'START', 'WAITING_FOR_END', 'alice')"
    ),
    "START on a day that does not exist": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x6', 'TEST-TEM-001', '2025-13-40T07:00:00-05:00', "
        "'START', 'WAITING_FOR_END', 'alice')"
    ),
    "change another PC's heartbeat": (
        "UPDATE nexus_logger_heartbeat SET last_alive = '2030-01-01T00:00:00+01:00'"
    ),
    "delete another PC's heartbeat": "DELETE FROM nexus_logger_heartbeat",
    "heartbeat claiming another session": (
        "INSERT INTO nexus_logger_heartbeat VALUES ('sem-open', 'TEST-TEM-001', "
        "'2025-02-10T07:00:00-05:00', 'me')"
    ),
    "change another PC's note": "UPDATE nexus_logger_note SET note = 'mine now'",
    "delete another PC's note": "DELETE FROM nexus_logger_note",
    "move another PC's station": (
        "UPDATE nexus_logger_station SET instrument_pid = 'TEST-TEM-001'"
    ),
    "claim another instrument": (
        "INSERT INTO nexus_logger_open_session VALUES ('TEST-SEM-002', 'x3', 'a', 'now', 'me')"
    ),
    "map itself to another instrument": (
        "INSERT INTO nexus_logger_role_instrument VALUES (session_user, 'TEST-SEM-002')"
    ),
    "write an audit row": (
        "INSERT INTO nexus_logger_audit (at, login, action, session_identifier, summary, "
        "before, after) VALUES ('now', 'root', 'requeue', 'tem-err', 's', '[]', '[]')"
    ),
    "read the trail": "SELECT * FROM nexus_logger_trail",
    "write the trail": (
        "INSERT INTO nexus_logger_trail (table_name, operation) VALUES ('session_log', 'x')"
    ),
    "empty the trail": "DELETE FROM nexus_logger_trail",
    "truncate session_log": "TRUNCATE session_log",
    "drop the guard": "DROP TRIGGER nexus_logger_guard ON session_log",
    "create a table": "CREATE TABLE nexus_logger_mine (x int)",
    "START years ahead": (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('x9', 'TEST-TEM-001', '2031-01-01T12:00:00+00:00', "
        "'START', 'WAITING_FOR_END', 'alice')"
    ),
    # (PostgreSQL lets every role make temporary tables unless told: the docs say "no")
    "create a temporary table": "CREATE TEMP TABLE mine (x int)",
}


@pytest.mark.parametrize(
    "statement", FORBIDDEN_FOR_INSTRUMENT.values(), ids=list(FORBIDDEN_FOR_INSTRUMENT)
)
def test_instrument_account_is_refused_by_hand(pg_cluster, server, statement: str) -> None:
    before = _snapshot(server["owner"])
    with _as(pg_cluster, server, "inst") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    assert _snapshot(server["owner"]) == before


def test_an_instrument_account_cannot_write_a_session_nexuslims_cannot_build(
    pg_cluster, server
) -> None:
    """By hand, an END earlier than its START, an unreadable END time, or a START marked to be
    built without its END (each stops NexusLIMS's build run) are refused by the server."""
    start = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('pair', 'TEST-TEM-001', '2025-02-10T07:00:00-05:00', "
        "'START', 'WAITING_FOR_END', 'alice')"
    )
    end = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES ('pair', 'TEST-TEM-001', %s, 'END', "
        "'WAITING_FOR_END', 'alice')"
    )
    with _as(pg_cluster, server, "inst") as conn:
        conn.execute(start)
        before = _snapshot(server["owner"])
        for bad in ("2020-01-01T06:10:00-05:00", "not a time"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(end, (bad,))
        assert _snapshot(server["owner"]) == before
        conn.execute(end, ("2025-02-10T08:00:00-05:00",))
        before = _snapshot(server["owner"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only with its END"):
            conn.execute(
                "UPDATE session_log SET record_status = 'TO_BE_BUILT' "
                "WHERE session_identifier = 'pair' AND event_type = 'START'"
            )
        assert _snapshot(server["owner"]) == before
        # Both together, as the lifecycle does: allowed.
        conn.execute(
            "UPDATE session_log SET record_status = 'TO_BE_BUILT' WHERE session_identifier = 'pair'"
        )
    statuses = raw_query(
        server["owner"], "SELECT record_status FROM session_log WHERE session_identifier = 'pair'"
    )
    assert statuses == [("TO_BE_BUILT",), ("TO_BE_BUILT",)]


def test_one_open_session_per_instrument_yet_a_whole_past_session_is_written(
    pg_cluster, server
) -> None:
    """A second open START on an instrument is refused; a past session kept offline (START
    and END in one transaction, as the outbox writes it) goes in while another is open now."""
    row = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES (%s, 'TEST-TEM-001', %s, %s, 'WAITING_FOR_END', 'alice')"
    )
    with _as(pg_cluster, server, "inst") as conn:
        conn.execute(row, ("open-now", "2025-02-10T11:00:00-05:00", "START"))
        before = _snapshot(server["owner"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="has an open session"):
            conn.execute(row, ("second", "2025-02-10T11:05:00-05:00", "START"))
        assert _snapshot(server["owner"]) == before
        with conn.transaction():
            conn.execute(row, ("past", "2025-02-10T08:00:00-05:00", "START"))
            conn.execute(row, ("past", "2025-02-10T09:00:00-05:00", "END"))
            conn.execute(
                "UPDATE session_log SET record_status = 'TO_BE_BUILT' "
                "WHERE session_identifier = 'past'"
            )
    statuses = raw_query(
        server["owner"], "SELECT record_status FROM session_log WHERE session_identifier = 'past'"
    )
    assert statuses == [("TO_BE_BUILT",), ("TO_BE_BUILT",)]


def test_instrument_account_runs_the_lifecycle_for_its_instrument(pg_cluster, server) -> None:
    url = server["inst_url"]
    started = lifecycle.start_session(instrument=TEM, user="alice", engine=url)
    ident = started.session.session_identifier
    lifecycle.set_note(ident, "sample 7", engine=url)
    lifecycle.record_heartbeat(ident, engine=url)
    lifecycle.end_session(instrument=TEM, engine=url)
    rows = [r for r in dump_session_log(server["owner"]) if r[1] == ident]
    assert [(r[4], r[5]) for r in rows] == [("START", "TO_BE_BUILT"), ("END", "TO_BE_BUILT")]
    assert lifecycle.get_note(ident, engine=url) == "sample 7"
    # ...and not for an instrument it is not mapped to (the server says no, nothing is left).
    before = _snapshot(server["owner"])
    with pytest.raises(NexusLoggerError, match="not mapped to instrument TEST-FIB-003") as no:
        lifecycle.start_session(instrument="TEST-FIB-003", user="alice", engine=url)
    assert _snapshot(server["owner"]) == before
    # A refusal (exit 4) that says whom to ask, never a set-up error kept for later.
    assert isinstance(no.value, ServerRule) and no.value.exit_code == 4
    assert "refused this change by its rules" in str(no.value) and "admin role" in str(no.value)
    # Every change is in the trail, under the account the server knows.
    trail = raw_query(
        server["owner"],
        "SELECT db_account, table_name, operation FROM nexus_logger_trail "
        "WHERE new_row->>'session_identifier' = %s OR old_row->>'session_identifier' = %s "
        "ORDER BY id",
        (ident, ident),
    )
    assert {r[0] for r in trail} == {server["inst"]}
    assert ("session_log", "INSERT") in {(r[1], r[2]) for r in trail}
    # The END freed the instrument's claim (an UPDATE of its row, see open_rule).
    assert ("nexus_logger_open_session", "UPDATE") in {(r[1], r[2]) for r in trail}


def test_instrument_account_ends_a_session_nexuslims_1x_started(pg_cluster, server) -> None:
    """A START without a UTC offset (a database migrated from NexusLIMS 1.x) gets its END in
    the same form, which NexusLIMS 2.8 needs; the server allows that END and no other time
    without an offset, and never one earlier on the clock than its START."""
    row = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES (%s, %s, %s, %s, 'WAITING_FOR_END', 'alice')"
    )
    raw_execute(server["owner"], row, ("legacy", TEM, "2025-02-10T08:00:00.000", "START"))
    with _as(pg_cluster, server, "inst") as conn:
        before = _snapshot(server["owner"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="earlier than its START"):
            conn.execute(row, ("legacy", TEM, "2025-02-10T07:59:00.000", "END"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="UTC offset"):
            conn.execute(row, ("new-1x", TEM, "2025-02-10T09:00:00.000", "START"))
        assert _snapshot(server["owner"]) == before
    ended = lifecycle.end_session(instrument=TEM, engine=server["inst_url"])
    assert ended.session_identifier == "legacy"
    rows = [r for r in dump_session_log(server["owner"]) if r[1] == "legacy"]
    assert [(r[4], r[5]) for r in rows] == [("START", "TO_BE_BUILT"), ("END", "TO_BE_BUILT")]
    assert timestamps.is_naive(rows[1][3])
    # An END without an offset for a START with one is still refused.
    started = lifecycle.start_session(instrument=TEM, user="alice", engine=server["inst_url"])
    with _as(pg_cluster, server, "inst") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only for a START"):
            conn.execute(
                row, (started.session.session_identifier, TEM, "2099-01-01T00:00:00.000", "END")
            )


def test_an_end_the_server_refuses_is_said_with_its_reason(pg_cluster, server, capsys) -> None:
    """An instrument account ends a session on an instrument it is not mapped to: the END is
    held on this PC (never lost), and the sentence gives the server's reason; it said the END
    "conflicts with what the database holds", which it does not."""
    from nexus_logger.cli import main

    before = _snapshot(server["owner"])
    code = main(
        ["session", "end", "--db", server["inst_url"], "--instrument", SEM, "--user", "alice"]
    )
    said = capsys.readouterr()
    assert code == 3
    assert "not mapped to instrument TEST-SEM-002" in said.out, said.out
    assert "conflicts with what the database holds" not in said.out
    assert _snapshot(server["owner"]) == before


def test_forged_end_of_own_open_session_with_another_user_is_refused(pg_cluster, server) -> None:
    started = lifecycle.start_session(instrument=TEM, user="alice", engine=server["inst_url"])
    ident = started.session.session_identifier
    before = _snapshot(server["owner"])
    with _as(pg_cluster, server, "inst") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
                "record_status, \"user\") VALUES (%s, %s, %s, 'END', 'WAITING_FOR_END', 'bob')",
                (ident, TEM, ny(0)),
            )
    assert _snapshot(server["owner"]) == before


def test_bridge_writes_generations_and_final_statuses_only(pg_cluster, server) -> None:
    with _as(pg_cluster, server, "bridge") as conn:
        conn.execute(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, \"user\") VALUES ('tem-built', %s, %s, 'RECORD_GENERATION', "
            "'COMPLETED', 'nexuslims')",
            (TEM, ny(0)),
        )
        conn.execute(
            "UPDATE session_log SET record_status = 'COMPLETED' "
            "WHERE session_identifier = 'tem-built'"
        )
    statuses = {r[4]: r[5] for r in dump_session_log(server["owner"]) if r[1] == "tem-built"}
    assert statuses == {"START": "COMPLETED", "END": "COMPLETED", "RECORD_GENERATION": "COMPLETED"}
    before = _snapshot(server["owner"])
    with _as(pg_cluster, server, "bridge") as conn:
        for sql in (
            "UPDATE session_log SET \"user\" = 'x' WHERE session_identifier = 'tem-built'",
            "UPDATE session_log SET record_status = 'TO_BE_BUILT' "
            "WHERE session_identifier = 'sem-open'",
            "DELETE FROM session_log",
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, \"user\") VALUES ('b1', 'TEST-TEM-001', "
            "'2025-02-10T07:00:00-05:00', 'START', 'TO_BE_BUILT', 'x')",
            "INSERT INTO nexus_logger_note VALUES ('sem-open', 'x', 'now')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    assert _snapshot(server["owner"]) == before


def test_spoofed_names_do_not_raise_rights(pg_cluster, server, monkeypatch, isolated_home) -> None:
    monkeypatch.setenv("LOGNAME", "facility-admin")
    monkeypatch.setenv("USER", "facility-admin")
    monkeypatch.setenv("USERNAME", "facility-admin")
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", "facility-admin")
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('administrators = ["facility-admin"]\n')
    assert aa.current_login() == os_login() != "facility-admin"
    before = _snapshot(server["owner"])
    with pytest.raises(aa.NotAdministrator, match="may not run admin actions"):
        aa.requeue(
            "tem-err",
            login="facility-admin",
            administrators=["facility-admin"],
            engine=server["inst_url"],
        )
    assert _snapshot(server["owner"]) == before
    # The admin account may, and the trail names the real OS account and the server's.
    entry = aa.requeue("tem-err", engine=server["admin_url"])
    assert entry.login == os_login()
    (stored,) = aa.list_audit(engine=server["admin_url"])
    assert stored.db_account == server["admin"] and stored.login == os_login()
    assert aa.check_audit_chain(server["admin_url"]).ok


def test_trail_records_hand_edits_and_cannot_be_rewritten(pg_cluster, server) -> None:
    owner = server["owner"]
    raw_execute(
        owner, "UPDATE session_log SET \"user\" = 'eve' WHERE session_identifier = 'tem-err'"
    )
    (row,) = raw_query(
        owner,
        "SELECT db_account, old_row->>'user', new_row->>'user' FROM nexus_logger_trail "
        "WHERE operation = 'UPDATE' AND table_name = 'session_log' "
        "AND old_row->>'event_type' = 'START' ORDER BY id DESC LIMIT 1",
    )
    assert row == ("postgres", "alice", "eve")
    count = raw_query(owner, "SELECT count(*) FROM nexus_logger_trail")[0][0]
    for sql in ("DELETE FROM nexus_logger_trail", "UPDATE nexus_logger_trail SET db_account = 'x'"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # even the owner, by hand
            raw_execute(owner, sql)
    for who in ("admin", "bridge"):
        with _as(pg_cluster, server, who) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM nexus_logger_trail")
    assert raw_query(owner, "SELECT count(*) FROM nexus_logger_trail")[0][0] == count


def test_script_on_a_database_without_session_log_says_what_to_run(pg_cluster) -> None:
    dbname = make_url(pg_cluster.create_database()).database
    with pytest.raises(psycopg.errors.RaiseException, match="nexus-logger init-db"):
        pg_cluster.execute(aa.postgres_roles_sql(database=dbname), dbname=dbname)


def test_script_run_by_an_owner_who_may_not_create_roles_stops_before_anything(
    pg_cluster,
) -> None:
    """Run without CREATEROLE, the script used to go on after the failed CREATE ROLE and
    leave tables and triggers without their roles (every GRANT failing)."""
    from nexus_logger.core.db.schema import init_db
    from nexus_logger.core.staff.postgres_roles import MAP_TABLE

    url = pg_cluster.create_database()
    dbname = make_url(url).database
    init_db(url)
    tag = uuid.uuid4().hex[:8]
    owner = f"owner_{tag}"
    pg_cluster.execute(f'CREATE ROLE "{owner}" LOGIN', dbname=dbname)
    pg_cluster.execute(
        f'ALTER TABLE session_log OWNER TO "{owner}"; GRANT CREATE ON SCHEMA public TO "{owner}"',
        dbname=dbname,
    )
    sql = aa.postgres_roles_sql(
        database=dbname, instrument_role=f"i_{tag}", admin_role=f"a_{tag}", bridge_role=f"b_{tag}"
    )
    dsn = f"host=127.0.0.1 port={pg_cluster.port} user={owner} dbname={dbname}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="may not create roles"):
            conn.execute(sql)
    assert raw_query(url, f"SELECT to_regclass('{MAP_TABLE}')")[0][0] is None  # nothing made


def test_script_is_idempotent_and_keeps_the_rules(pg_cluster, server) -> None:
    sql = roles_sql(server["dbname"], server, server)
    pg_cluster.execute(sql, dbname=server["dbname"])
    pg_cluster.execute(sql, dbname=server["dbname"])
    before = _snapshot(server["owner"])
    with _as(pg_cluster, server, "inst") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(FORBIDDEN_FOR_INSTRUMENT["update another instrument's status"])
    assert _snapshot(server["owner"]) == before
    lifecycle.start_session(instrument=TEM, user="alice", engine=server["inst_url"])


def test_doctor_names_the_account_and_its_rights(server, pg_db) -> None:
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.core.setup.doctor import run_checks

    def account(url: str, **values: str):
        settings = load_settings(None, {"database": url, **values})
        (check,) = [c for c in run_checks(settings) if c.name == "account"]
        return check

    mine = account(server["inst_url"], instrument=TEM)
    assert mine.status == "OK", mine
    assert f"{server['inst']!r}, an instrument PC account, mapped to {TEM}" in mine.message
    other = account(server["inst_url"], instrument=SEM)
    assert other.status == "PROBLEM" and f"refuse sessions on {SEM}" in other.message
    admin = account(server["admin_url"])
    assert admin.status == "OK" and "an administrator account" in admin.message
    owner = account(pg_db)  # the superuser the suite connects with: far too many rights
    assert owner.status == "WARNING" and "superuser" in owner.message


def test_doctor_warns_when_the_open_start_index_is_missing(pg_cluster, server) -> None:
    from nexus_logger.core.db.open_start_index import NAME
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.core.setup.doctor import run_checks

    pg_cluster.execute(f"DROP INDEX {NAME}", dbname=server["dbname"])  # rules of an older script
    settings = load_settings(None, {"database": server["inst_url"], "instrument": TEM})
    (check,) = [c for c in run_checks(settings) if c.name == "account"]
    assert check.status == "WARNING", check
    assert NAME in check.message and "postgres-roles" in check.fix


def test_doctor_warns_when_the_server_enforces_nothing(pg_db) -> None:
    from nexus_logger.core.db.open_start_index import NAME
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.core.setup.doctor import run_checks

    checks = run_checks(load_settings(None, {"database": pg_db}))
    (check,) = [c for c in checks if c.name == "account"]
    assert check.status == "WARNING" and "enforces no nexus-logger rules" in check.message
    assert NAME not in check.message  # init-db made the index
    raw_execute(pg_db, f"DROP INDEX {NAME}")  # a server set up before it did
    (check,) = [
        c for c in run_checks(load_settings(None, {"database": pg_db})) if c.name == "account"
    ]
    assert "enforces no nexus-logger rules" in check.message and NAME in check.message


def test_another_logins_session_ended_by_the_instrument_account_is_in_the_trail(
    pg_cluster, server, tmp_path, caplog, monkeypatch
) -> None:
    """The instrument account may not write audit rows (that is the admin role's right): the
    END of root's session by bob still commits, the server's trail records it, the log says why
    no audit row was written."""
    import logging
    from datetime import timedelta

    from nexus_logger.core import timestamps
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.settings import identity

    monkeypatch.setattr(identity, "os_login", lambda: "bob")  # bob's process ends it
    url = server["inst_url"]
    old = lifecycle.start_session(
        instrument=TEM, user="root", at=timestamps.now_in("UTC") - timedelta(hours=30), engine=url
    ).session
    caplog.set_level(logging.INFO, logger="nexus_logger")
    durable = DurableLogger(url, outbox_path=tmp_path / "outbox.sqlite")
    new = durable.replace(old, end_at=old.started + timedelta(hours=1), user="bob")
    assert new.created and not new.queued
    rows = [r for r in dump_session_log(server["owner"]) if r[1] == old.session_identifier]
    assert [(r[4], r[6]) for r in rows] == [("START", "root"), ("END", "root")]
    assert aa.list_audit(session_identifier=old.session_identifier, engine=server["owner"]) == []
    trail = raw_query(
        server["owner"],
        "SELECT db_account FROM nexus_logger_trail WHERE table_name = 'session_log' "
        "AND operation = 'INSERT' AND new_row->>'session_identifier' = %s "
        "AND new_row->>'event_type' = 'END'",
        (old.session_identifier,),
    )
    assert trail == [(server["inst"],)]
    assert any("may not write audit rows" in r.getMessage() for r in caplog.records)
