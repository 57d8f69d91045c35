"""The PostgreSQL role setup of docs/postgres-roles.md, run for real on the test cluster.

The instrument PCs' role may insert and update ``session_log`` but not delete; only the admin
role may use the admin actions (its audit row is the part the instrument role may not write,
and the action rolls back with it).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from nexus_logger.core.db import open_start_index
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.staff import admin_actions as aa
from tests.helpers_admin import audit_count, dump_session_log, raw_query, session

pytestmark = pytest.mark.postgres


def _connect(pg_cluster, dbname: str, user: str) -> psycopg.Connection:
    return psycopg.connect(
        f"host=127.0.0.1 port={pg_cluster.port} user={user} dbname={dbname}", autocommit=True
    )


def _script(dbname: str, groups: dict[str, str], instrument_login: str) -> str:
    return aa.postgres_roles_sql(
        database=dbname,
        instrument_role=groups["instrument_group"],
        admin_role=groups["admin_group"],
        bridge_role=groups["bridge_group"],
        instrument_map=[(instrument_login, "TEST-TEM-001")],
    )


@pytest.fixture
def roles(pg_cluster, pg_db: str) -> dict[str, str]:
    """The script applied to a new database; URLs for the owner and a login in each role.

    The script's roles are groups (``*_group``) that cannot log in; ``instrument_role`` and
    the others are a login in each, as docs/postgres-roles.md says to make them.
    """
    dbname = make_url(pg_db).database
    suffix = uuid.uuid4().hex[:8]
    inst, admin = f"instr_{suffix}", f"admin_{suffix}"
    logins = {"instrument_role": inst, "admin_role": admin, "bridge_role": f"bridge_{suffix}"}
    groups = {key.replace("_role", "_group"): f"{name}_group" for key, name in logins.items()}
    pg_cluster.execute(_script(dbname, groups, inst), dbname=dbname)
    for key, login in logins.items():
        pg_cluster.execute(
            f'CREATE ROLE "{login}" LOGIN IN ROLE "{groups[key.replace("_role", "_group")]}"'
        )
    return {
        "owner": pg_db,
        "dbname": dbname,
        **logins,
        **groups,
        "instrument": pg_cluster.url(dbname, user=inst),
        "bridge": pg_cluster.url(dbname, user=f"bridge_{suffix}"),
        "admin": pg_cluster.url(dbname, user=admin),
    }


def test_instrument_role_logs_sessions_but_cannot_delete(pg_cluster, roles) -> None:
    url = roles["instrument"]
    started = lifecycle.start_session(instrument="TEST-TEM-001", user="alice", engine=url)
    assert started.created
    lifecycle.set_note(started.session.session_identifier, "sample 7", engine=url)
    lifecycle.end_session(instrument="TEST-TEM-001", engine=url)
    rows = dump_session_log(roles["owner"])
    assert [(r[4], r[5]) for r in rows] == [("START", "TO_BE_BUILT"), ("END", "TO_BE_BUILT")]

    for role in ("instrument_role", "admin_role"):
        with _connect(pg_cluster, roles["dbname"], roles[role]) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM session_log")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("TRUNCATE session_log")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE nexus_logger_mine (x int)")
    assert len(dump_session_log(roles["owner"])) == 2


def test_only_the_admin_role_can_run_admin_actions(pg_cluster, roles) -> None:
    session(roles["owner"], "err", status="ERROR", generations=1)
    before = dump_session_log(roles["owner"])

    with pytest.raises(aa.NotAdministrator, match="may not run admin actions"):
        aa.requeue("err", login="root", administrators=["root"], engine=roles["instrument"])
    assert dump_session_log(roles["owner"]) == before  # rolled back with the audit insert
    assert audit_count(roles["owner"]) == 0

    entry = aa.requeue("err", login="root", administrators=["root"], engine=roles["admin"])
    assert [r[5] for r in dump_session_log(roles["owner"])] == [
        "TO_BE_BUILT",
        "TO_BE_BUILT",
        "ERROR",
    ]
    # Everyone can read the audit trail; nobody but the owner can change it.
    assert aa.list_audit(engine=roles["instrument"]) == [entry]
    for role in ("instrument_role", "admin_role"):
        with _connect(pg_cluster, roles["dbname"], roles[role]) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE nexus_logger_audit SET login = 'someone else'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM nexus_logger_audit")
    assert audit_count(roles["owner"]) == 1


def test_script_can_be_run_twice(pg_cluster, roles) -> None:
    sql = _script(roles["dbname"], roles, roles["instrument_role"])
    pg_cluster.execute(sql, dbname=roles["dbname"])
    with pytest.raises(NexusLoggerError):
        aa.requeue("nothing", login="root", administrators=["root"], engine=roles["instrument"])


def test_script_adds_the_open_start_index_to_a_server_without_it(pg_cluster, pg_db: str) -> None:
    # A database whose tables came from NexusLIMS or from init-db before the index existed.
    dbname = make_url(pg_db).database
    pg_cluster.execute(f"DROP INDEX {open_start_index.NAME}", dbname=dbname)
    suffix = uuid.uuid4().hex[:8]
    pg_cluster.execute(
        aa.postgres_roles_sql(
            database=dbname,
            instrument_role=f"instr_{suffix}",
            admin_role=f"admin_{suffix}",
            bridge_role=f"bridge_{suffix}",
        ),
        dbname=dbname,
    )
    with _connect(pg_cluster, dbname, "postgres") as conn:
        found = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (open_start_index.NAME,)
        ).fetchall()
    assert len(found) == 1
    assert "WHERE" in found[0][0] and "(instrument)" in found[0][0]


def test_the_roles_are_groups_that_cannot_log_in(pg_cluster, roles) -> None:
    """The script made its roles able to log in (without a password, so under trust or peer
    authentication anyone could connect as one). They are groups now; a login of its own per
    PC or person is a member. A group an older script made is left as it is, with a warning
    that says what to do: turning its login off could lock out PCs that use it."""
    groups = [roles["instrument_group"], roles["admin_group"], roles["bridge_group"]]
    found = raw_query(
        roles["owner"],
        "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
        (groups,),
    )
    assert sorted(found) == sorted((g, False) for g in groups)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        _connect(pg_cluster, roles["dbname"], roles["instrument_group"])

    old = f"old_{uuid.uuid4().hex[:8]}"
    pg_cluster.execute(f'CREATE ROLE "{old}" LOGIN')
    warnings: list[str] = []
    with _connect(pg_cluster, roles["dbname"], "postgres") as conn:
        conn.add_notice_handler(lambda diag: warnings.append(diag.message_primary or ""))
        conn.execute(
            aa.postgres_roles_sql(
                database=roles["dbname"],
                instrument_role=old,
                admin_role=roles["admin_group"],
                bridge_role=roles["bridge_group"],
            )
        )
    assert warnings == [
        f"The role {old} can log in itself, but it is a group: give each PC or person a login "
        f'of its own IN ROLE {old}, then run ALTER ROLE "{old}" NOLOGIN.'
    ]
    assert raw_query(roles["owner"], "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (old,))[
        0
    ][0]


def test_a_group_role_login_is_refused_not_unreachable(pg_cluster, roles, capsys) -> None:
    """A PC still set up with the group role itself (after 'ALTER ROLE ... NOLOGIN', as
    postgres-roles.md says to do): the server's "is not permitted to log in" was read as an
    unreachable server, so sessions were "saved on this PC" and never sent."""
    from nexus_logger.cli import main
    from nexus_logger.core.offline.outbox import pending_events

    url = pg_cluster.url(roles["dbname"], user=roles["instrument_group"])
    start = ["session", "start", "--db", url, "--instrument", "TEST-TEM-001", "--user", "alice"]
    assert main(start) == 6  # a refused login, as for a wrong password
    err = capsys.readouterr().err
    assert "refused the login" in err and "cannot be reached" not in err
    assert pending_events() == 0  # nothing kept on this PC
