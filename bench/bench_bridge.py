"""Benchmark the bridge: time to copy N sessions each way, and what a NexusLIMS writer waits.

Starts a throw-away PostgreSQL server (as the tests do), fills it with N complete TO_BE_BUILT
sessions, then times, in this process:

1. copy in: every session into a new NexusLIMS file;
2. copy back: after every session was "built" in the file (a RECORD_GENERATION row and
   COMPLETED on every row, as NexusLIMS writes them), every result back into PostgreSQL;
3. a run with nothing to do (N sessions in the ledger).

During 1 and 2 a second thread plays NexusLIMS: it writes to the file in a loop (``BEGIN
IMMEDIATE``, an UPDATE, COMMIT) and records the longest it waited for the lock; NexusLIMS
gives up after 5 s.

    python bench/bench_bridge.py                # 10,000 sessions
    python bench/bench_bridge.py --sessions 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Writer(threading.Thread):
    """A NexusLIMS-like writer on the file: records the longest wait for its write lock."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.longest = 0.0
        self.writes = 0

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        while not self.stop.is_set():
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            self.longest = max(self.longest, time.perf_counter() - t0)
            conn.execute("UPDATE alembic_version SET version_num = version_num")
            conn.execute("COMMIT")
            self.writes += 1
            time.sleep(0.002)
        conn.close()


def timed_run(pair, path: str) -> tuple[float, float, int, object]:
    from nexus_logger.core.bridge import bridge

    writer = Writer(path)
    writer.start()
    t0 = time.perf_counter()
    report = bridge.run_once(pair)
    elapsed = time.perf_counter() - t0
    writer.stop.set()
    writer.join()
    return elapsed, writer.longest, writer.writes, report


def build_all(path: str) -> None:
    conn = sqlite3.connect(path)
    sids = [r[0] for r in conn.execute("SELECT DISTINCT session_identifier FROM session_log")]
    now = datetime.now(UTC).isoformat()
    conn.executemany(
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES (?, 'TEST-TEM-001', ?, 'RECORD_GENERATION', "
        "'WAITING_FOR_END', 'nexuslims')",
        [(s, now) for s in sids],
    )
    conn.execute("UPDATE session_log SET record_status = 'COMPLETED'")
    conn.commit()
    conn.close()


def one_round(cluster, sessions: int) -> dict[str, float]:
    from nexus_logger.core.bridge import bridge
    from nexus_logger.core.db.engine import dispose_engines
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db
    from tests.helpers_bridge import add_sessions_bulk

    url = cluster.create_database("bench")
    init_db(url)
    add_instrument("TEST-TEM-001", display_name="TEM", timezone="America/New_York", engine=url)
    add_sessions_bulk(url, sessions)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "nexuslims.sqlite")
        pair = bridge.open_pair(url, path, create=True)
        with pair:
            t_in, wait_in, _, rep_in = timed_run(pair, path)
            assert rep_in.copied_in == sessions, rep_in.message()
            build_all(path)
            t_out, wait_out, _, rep_out = timed_run(pair, path)
            assert rep_out.copied_out == sessions, rep_out.message()
            t0 = time.perf_counter()
            rep_idle = bridge.run_once(pair)
            t_idle = time.perf_counter() - t0
            assert rep_idle.copied_in == rep_idle.copied_out == 0
        dispose_engines()
    return {
        "copy_in": t_in,
        "copy_out": t_out,
        "idle": t_idle,
        "writer_wait_in": wait_in,
        "writer_wait_out": wait_out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import os

    os.environ.setdefault("NEXUS_LOGGER_HOME", tempfile.mkdtemp(prefix="bench-bridge-home-"))
    os.environ.setdefault("NEXUS_LOGGER_MACHINE_DIR", tempfile.mkdtemp(prefix="bench-bridge-pc-"))
    from tests.pgcluster import PgCluster, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        print("PostgreSQL is not installed (no initdb found).")
        return 1
    print(describe_machine())
    cluster = PgCluster(bin_dir).init()
    cluster.start()
    try:
        rounds = [one_round(cluster, args.sessions) for _ in range(args.repeat)]
    finally:
        cluster.destroy()
    print(f"\n{args.sessions:,} sessions, {args.repeat} round(s), median (min-max):")
    labels = {
        "copy_in": "copy in (PostgreSQL -> file)",
        "copy_out": "copy back (file -> PostgreSQL)",
        "idle": "run with nothing to do",
        "writer_wait_in": "longest wait of a file writer, copy in",
        "writer_wait_out": "longest wait of a file writer, copy back",
    }
    for key, label in labels.items():
        values = [r[key] for r in rounds]
        print(
            f"  {label:<42} {statistics.median(values):7.3f} s "
            f"({min(values):.3f}-{max(values):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
