"""The PostgreSQL server's rules (docs/postgres-roles.md), each one alone: rows an instrument
PC's account or the bridge's account must not write even when no other rule catches them."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers_admin import raw_execute
from tests.test_server_rules import _as, _snapshot, server  # noqa: F401 (the fixture, reused)

pytestmark = pytest.mark.postgres

_INSERT = (
    "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
    'record_status, "user") VALUES (%s, %s, %s, %s, %s, %s)'
)
TEM = "TEST-TEM-001"


def _refused(pg_cluster, server, who: str, sql: str, params: tuple = ()) -> None:  # noqa: F811
    """``who`` runs ``sql``: the server refuses it and nothing changes."""
    before = _snapshot(server["owner"])
    with _as(pg_cluster, server, who) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql, params)
    assert _snapshot(server["owner"]) == before


def test_an_instrument_pc_cannot_end_a_session_under_another_user(pg_cluster, server) -> None:  # noqa: F811
    """An END whose user is not its START's makes a session NexusLIMS never builds."""
    with _as(pg_cluster, server, "inst") as conn:
        conn.execute(
            _INSERT, ("g2", TEM, "2025-02-10T07:00:00-05:00", "START", "WAITING_FOR_END", "alice")
        )
    _refused(
        pg_cluster,
        server,
        "inst",
        _INSERT,
        ("g2", TEM, "2025-02-10T08:00:00-05:00", "END", "WAITING_FOR_END", "mallory"),
    )


def test_an_instrument_pc_cannot_reuse_a_session_identifier(pg_cluster, server) -> None:  # noqa: F811
    """A START with the identifier of a finished session would corrupt that session."""
    _refused(
        pg_cluster,
        server,
        "inst",
        _INSERT,
        ("tem-built", TEM, "2025-02-10T07:00:00-05:00", "START", "WAITING_FOR_END", "alice"),
    )


def test_a_to_be_built_start_without_its_end_counts_as_open(pg_cluster, server) -> None:  # noqa: F811
    """A START marked TO_BE_BUILT whose END is missing is still an open session: a second
    START on the instrument is refused."""
    raw_execute(
        server["owner"],
        _INSERT.replace("%s", "?"),
        ("tbb-open", TEM, "2025-02-10T06:00:00-05:00", "START", "TO_BE_BUILT", "bob"),
    )
    _refused(
        pg_cluster,
        server,
        "inst",
        _INSERT,
        ("second", TEM, "2025-02-10T07:00:00-05:00", "START", "WAITING_FOR_END", "alice"),
    )


def test_the_bridge_cannot_finish_a_session_still_running(pg_cluster, server) -> None:  # noqa: F811
    _refused(
        pg_cluster,
        server,
        "bridge",
        "UPDATE session_log SET record_status = 'COMPLETED' WHERE session_identifier = 'sem-open'",
    )
