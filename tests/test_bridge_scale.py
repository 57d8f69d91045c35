"""The bridge at a facility's scale: the query each run starts with keeps a linear plan.

Thousands of rows stand in for hundreds of thousands by shrinking ``work_mem`` to 64 kB: a
plan that needs a list in memory to stay linear loses it at the same row count relative to
``work_mem``, as the default 4 MB does at about 150,000 ledger rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from nexus_logger.cli import main
from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.bridge.bridge_pair import pg_candidates_query
from nexus_logger.core.db.engine import dispose_engines
from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import RecordStatus
from tests.helpers_bridge import add_session, add_sessions_bulk, sessions_so_far
from tests.helpers_outbox import populate
from tests.pgcluster import PgCluster
from tests.rawdb import pg_dsn

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]


def _explain(dsn: str, sql: str) -> str:
    with psycopg.connect(dsn) as conn:
        conn.execute("SET work_mem = '64kB'")
        return "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}"))


def _sql(statement) -> str:
    return str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )


def test_the_first_query_of_a_run_never_rescans_a_list_per_row(
    pg_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = pg_dsn(pg_db)
    # A first run makes the bridge's tables on both sides.
    assert main(["bridge", "--from", pg_db, "--to", str(tmp_path / "nx.sqlite"), "--create"]) == 0
    capsys.readouterr()
    waiting = add_sessions_bulk(pg_db, 3000)
    copied = [str(uuid.uuid4()) for _ in range(4000)]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {bt.ledger.name} VALUES (%s, 1, 'x', 'y', '2026-01-01T00:00:00Z', "
            "'copied_out')",
            [(sid,) for sid in copied],
        )
        conn.execute("ANALYZE")
    plan = _explain(dsn, _sql(pg_candidates_query()))
    assert "SubPlan" not in plan, plan
    # The form it replaced, on the same rows: the planner re-runs a subquery per row.
    t = session_log
    old = select(t.c.id_session_log).where(
        t.c.session_identifier.in_(
            select(t.c.session_identifier).where(t.c.record_status == RecordStatus.TO_BE_BUILT)
        )
        | t.c.session_identifier.in_(select(bt.ledger.c.session_identifier))
    )
    assert "SubPlan" in _explain(dsn, _sql(old))
    # And it finds what it must: every row of a waiting session (copied ones have no rows).
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(_sql(pg_candidates_query())).fetchall()
    assert {r[1] for r in rows} == set(waiting) and len(rows) == 2 * len(waiting)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX; Ctrl+C is the same handler")
def test_a_watching_bridge_outlives_a_postgresql_restart(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    """The server goes away for a few passes and comes back: the bridge says why each pass
    failed, goes on, and copies what was finished meanwhile (it died with exit code 1, and
    the documented service unit did not always restart it)."""
    url = populate(own_cluster.create_database("watch"))
    add_session(url, 1)
    target = str(tmp_path / "nx.sqlite")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEXUS_LOGGER_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nexus_logger",
            "bridge",
            "--from",
            url,
            "--to",
            target,
            "--create",
            "--watch",
            "--interval",
            "0.3",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: sessions_so_far(target) == 1)
        own_cluster.stop()
        time.sleep(1.5)  # a few passes against a server that is not there
        assert proc.poll() is None, proc.communicate()
        own_cluster.start()
        dispose_engines()
        add_session(url, 2)
        _wait_for(lambda: sessions_so_far(target) == 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "bridge run failed" in err and "Traceback" not in err
    assert "Bridge stopped." in out


def _wait_for(done, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)
