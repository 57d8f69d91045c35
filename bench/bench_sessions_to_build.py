"""Benchmark ``get_sessions_to_build()``, the Admin tab's pending list and counts on large databases.

For each size it builds (once, cached in the temp folder) an SQLite database as NexusLIMS 2.8
writes it (:func:`nexuslims_rows`: uuid4 identifiers, aware ``isoformat()`` times, four
instruments in four zones, N TO_BE_BUILT sessions after N/10 completed ones with their
RECORD_GENERATION rows), with ``--pg`` copies it into a throw-away PostgreSQL server, and
runs each call in a fresh child process (so peak memory is that call's own): median wall
time, median CPU time of the child (moves less with the machine's load), peak memory.

    python bench/bench_sessions_to_build.py --pg --explain      # 1k, 10k, 100k, 1M
    python bench/bench_sessions_to_build.py --sizes 100000 --calls to_build --repeat 5
    python bench/bench_sessions_to_build.py --code /tmp/old-export   # time an older commit

Targets (issue 19, 2-core machine): 100,000 sessions under 1 s on both backends, without a
subquery run per row and without a sort spilling at the default ``work_mem`` (``--explain``
prints the plans); 1,000,000 under 5 s and under 400 MB.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ZONES = ("America/New_York", "America/Denver", "Europe/Berlin", "Asia/Kolkata")

_CHILD = r"""
import json, resource, sys, time
from nexus_logger.core import get_all_session_logs, get_sessions_to_build
try:
    from nexus_logger.core.staff import summaries
except ImportError:  # --code: a commit from before the core's subpackages
    from nexus_logger.core import summaries
pending = summaries.SessionQuery(statuses=frozenset({"TO_BE_BUILT"}))
fn = {
    "to_build": get_sessions_to_build,
    "all_logs": get_all_session_logs,
    "pending": lambda engine: summaries.query_sessions(pending, engine=engine),
    "counts": lambda engine: summaries.count_by_status(pending, engine=engine),
}[sys.argv[1]]
def peak_kb():
    # VmHWM: this process's own peak. (ru_maxrss keeps the parent's peak across exec on Linux,
    # which counted the benchmark's own memory, e.g. after it copied rows to PostgreSQL.)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = peak_kb()
c0, t0 = time.process_time(), time.perf_counter()
result = fn(engine=sys.argv[2])
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = peak_kb()
print(json.dumps({"seconds": elapsed, "cpu": cpu, "count": len(result), "peak_kb": peak,
                  "base_kb": base}))
"""
_READ_ROWS = (
    'SELECT session_identifier, instrument, timestamp, event_type, record_status, "user" '
    "FROM session_log ORDER BY id_session_log"
)
_COPY_ROWS = (
    'COPY session_log (session_identifier, instrument, timestamp, event_type, record_status, "user")'
    " FROM STDIN"
)
CALLS = ("to_build", "all_logs", "pending", "counts")


def nexuslims_rows(sessions: int, seed: int = 19) -> Iterator[tuple[str, ...]]:
    """``session_log`` rows as NexusLIMS 2.8 writes them, oldest first.

    ``sessions // 10`` completed sessions (START, END, RECORD_GENERATION, all COMPLETED: the
    record builder's final UPDATE), then ``sessions`` TO_BE_BUILT sessions (START and END).
    Identifiers are ``uuid4()`` (random, as NexusLIMS makes them: the index on
    ``session_identifier`` is filled in random order); timestamps are ``isoformat()`` of an
    aware ``datetime.now(zone)`` (microseconds and the zone's offset, which moves with daylight
    saving time); each of the instruments, in its own zone, has one session after another, so
    the rows of sessions on different instruments interleave in time, as on a real server.
    """
    rng = random.Random(seed)
    zones = [ZoneInfo(z) for z in ZONES]
    history = sessions // 10
    first = datetime(2018, 1, 1, 7, 0, tzinfo=UTC)
    clock = [first + timedelta(minutes=17 * k) for k in range(len(ZONES))]
    pending: list[tuple[datetime, int, tuple[str, ...]]] = []  # (time, tiebreak, row)
    seq = 0
    for n in range(history + sessions):
        k = n % len(ZONES)
        begin = clock[k] + timedelta(seconds=rng.uniform(0, 3600))
        finish = begin + timedelta(seconds=rng.uniform(600, 5 * 3600))
        clock[k] = finish
        ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        pid, user = f"BENCH-{k}", f"user{rng.randrange(150)}"
        status = "COMPLETED" if n < history else "TO_BE_BUILT"
        tz = zones[k]
        events = [
            (begin, "START", user),
            (finish + timedelta(microseconds=rng.randrange(1, 999_999)), "END", user),
        ]
        if n < history:
            built = finish + timedelta(hours=rng.uniform(0.5, 30))
            events.append((built, "RECORD_GENERATION", "nexuslims"))
        for when, event, who in events:
            stamp = when.astimezone(tz).isoformat()
            heapq.heappush(pending, (when, seq, (ident, pid, stamp, event, status, who)))
            seq += 1
        # Every instrument's clock has passed ``horizon``: rows before it are final.
        horizon = min(clock) - timedelta(days=2)
        while pending and pending[0][0] < horizon:
            yield heapq.heappop(pending)[2]
    while pending:
        yield heapq.heappop(pending)[2]


def build_database(path: Path, sessions: int) -> None:
    """A NexusLIMS 2.8 SQLite database holding :func:`nexuslims_rows` (built once, cached)."""
    from nexus_logger.core.db.engine import dispose_engines
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    init_db(str(tmp))
    for i, tz in enumerate(ZONES):
        add_instrument(f"BENCH-{i}", display_name=f"Bench {i}", timezone=tz, engine=str(tmp))
    dispose_engines()
    with sqlite3.connect(tmp) as conn:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the random uuid4 index inserts
        conn.executemany(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, user) VALUES (?, ?, ?, ?, ?, ?)",
            nexuslims_rows(sessions),
        )
    os.replace(tmp, path)


def copy_to_postgres(db: Path, url: str) -> None:
    """The same rows in a new PostgreSQL database (NexusLIMS 2.8 schema), settled by VACUUM."""
    import psycopg
    from sqlalchemy.engine import make_url

    from nexus_logger.core.db.engine import dispose_engines
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    init_db(url)
    for i, tz in enumerate(ZONES):
        add_instrument(f"BENCH-{i}", display_name=f"Bench {i}", timezone=tz, engine=url)
    dispose_engines()
    u = make_url(url)
    src = sqlite3.connect(db)
    dsn = f"host={u.host} port={u.port} user={u.username} dbname={u.database}"
    with psycopg.connect(dsn) as pg:
        with pg.cursor().copy(_COPY_ROWS) as copy:
            for row in src.execute(_READ_ROWS):
                copy.write_row(row)
    src.close()
    with psycopg.connect(dsn, autocommit=True) as pg:
        # A real table was written over years and autovacuum has long processed it.
        pg.execute("VACUUM ANALYZE session_log")


def measure(kind: str, target: str, repeat: int, code: Path = ROOT) -> dict:
    """Median wall and CPU time of one call in fresh child processes, and their peak memory."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, target],
            capture_output=True,
            text=True,
            check=True,
            cwd=code,
            env={**os.environ, "PYTHONPATH": str(code)},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "cpu_s": statistics.median(r["cpu"] for r in runs),
        "count": runs[0]["count"],
        "peak_mb": max(r["peak_kb"] for r in runs) / 1024,
        "import_mb": runs[0]["base_kb"] / 1024,
    }


def explain(target: str) -> None:
    """The plans of ``get_sessions_to_build`` and of the Admin tab's pending list and counts.

    PostgreSQL: ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement as it is sent (the admin
    calls' statements are caught on their way to the driver); SQLite: ``EXPLAIN QUERY PLAN``.
    """
    from sqlalchemy import event

    from nexus_logger.core.db.engine import get_engine, read_connection
    from nexus_logger.core.sessions import pairing
    from nexus_logger.core.staff import summaries

    eng = get_engine(target)
    pg = eng.dialect.name == "postgresql"
    to_build = pairing.sessions_to_build_statement() if pg else pairing.rows_in_id_order_statement()
    compiled = to_build.compile(eng, compile_kwargs={"literal_binds": True})
    statements: list[tuple[str, str, object]] = [("get_sessions_to_build", str(compiled), ())]
    caught: list[tuple[str, object]] = []

    def catch(conn, cursor, statement, parameters, context, executemany):
        if "session_log" in statement and statement.lstrip().upper().startswith("SELECT"):
            caught.append((statement, parameters))

    pending = summaries.SessionQuery(statuses=frozenset({"TO_BE_BUILT"}))
    event.listen(eng, "before_cursor_execute", catch)
    try:
        for name, call in (
            ("pending list (first page)", lambda: summaries.query_sessions(pending, engine=eng)),
            ("counts per status", lambda: summaries.count_by_status(pending, engine=eng)),
        ):
            caught.clear()
            call()
            statements += [(name, sql, params) for sql, params in caught]
    finally:
        event.remove(eng, "before_cursor_execute", catch)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
    with read_connection(eng) as conn:
        if pg:
            print(f"  work_mem {conn.exec_driver_sql('SHOW work_mem').scalar()}")
        for name, sql, params in statements:
            print(f"  {name}:")
            for row in conn.exec_driver_sql(prefix + sql, params or ()):
                print("    " + str(row[-1]))


def run_sizes(
    label: str, targets: dict[int, str], repeat: int, kinds: list[str], code: Path
) -> None:
    print(f"\n{label}")
    print(f"{'sessions':>10} | " + " | ".join(f"{k:>34}" for k in kinds))
    for size, target in targets.items():
        cells = []
        for kind in kinds:
            r = measure(kind, target, repeat if size <= 100_000 else max(1, min(repeat, 3)), code)
            if kind == "to_build":
                assert r["count"] == size, r
            cells.append(f"{r['median_s']:6.3f} s (CPU {r['cpu_s']:6.3f}), {r['peak_mb']:5.0f} MB")
        print(f"{size:>10,} | " + " | ".join(f"{c:>34}" for c in cells), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--calls",
        nargs="+",
        choices=sorted(CALLS),
        default=["to_build", "pending", "counts", "all_logs"],
        help="what to time",
    )
    parser.add_argument("--pg", action="store_true", help="also on a throw-away PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="time the nexus-logger in this folder (e.g. an export of an older commit)",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "nexus-logger-bench"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe_machine()}, SQLite {sqlite3.sqlite_version}")
    files: dict[int, Path] = {}
    for size in args.sizes:
        files[size] = args.cache / f"nexuslims-{size}.sqlite"
        if not files[size].exists():
            t0 = time.perf_counter()
            build_database(files[size], size)
            print(f"built {files[size]} in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_sqlite:
        sqlite_targets = {size: str(path) for size, path in files.items()}
        run_sizes("SQLite file", sqlite_targets, args.repeat, args.calls, args.code)
        if args.explain and args.code == ROOT:
            explain(sqlite_targets[max(sqlite_targets)])
    if args.pg:
        from tests.pgcluster import PgCluster, find_pg_bin

        bin_dir = find_pg_bin()
        if bin_dir is None:
            print("PostgreSQL is not installed: skipped")
            return 0
        cluster = PgCluster(bin_dir).init()
        cluster.start()
        try:
            pg_targets = {}
            for size, path in files.items():
                t0 = time.perf_counter()
                pg_targets[size] = cluster.create_database(f"s{size}")
                copy_to_postgres(path, pg_targets[size])
                print(f"copied {size:,} sessions to PostgreSQL in {time.perf_counter() - t0:.0f} s")
            run_sizes(
                "PostgreSQL 15 (local server, TCP, fsync=off)",
                pg_targets,
                args.repeat,
                args.calls,
                args.code,
            )
            if args.explain and args.code == ROOT:
                for size in sorted(pg_targets):
                    if size >= 100_000:
                        print(f"{size:,} sessions:")
                        explain(pg_targets[size])
        finally:
            cluster.destroy()
    print("(peak = maximum resident memory of the child process, with ~45 MB of imports)")
    print(f"load average after the runs: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
