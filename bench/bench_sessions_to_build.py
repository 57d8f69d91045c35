"""Benchmark ``get_sessions_to_build()`` and ``get_all_session_logs()`` on large databases.

For each size it builds (once, cached) an SQLite database in the NexusLIMS 2.8 schema with N
TO_BE_BUILT sessions plus N/10 completed sessions with their RECORD_GENERATION rows, then runs
each function in a fresh child process (so peak memory is that function's own) and prints the
median wall time and the peak resident memory.

    python bench/bench_sessions_to_build.py                 # 1k, 10k, 100k, 1M
    python bench/bench_sessions_to_build.py --sizes 1000 100000 --repeat 5

Targets (2-core machine): 100,000 sessions under 1 s; 1,000,000 under 10 s and under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ZONES = ("America/New_York", "America/Denver", "Europe/Berlin", "Asia/Kolkata")

_CHILD = r"""
import json, resource, sys, time
from nexus_logger.core import get_all_session_logs, get_sessions_to_build
fn = {"to_build": get_sessions_to_build, "all_logs": get_all_session_logs}[sys.argv[1]]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
result = fn(engine=sys.argv[2])
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "count": len(result), "peak_kb": peak, "base_kb": base}))
"""


def build_database(path: Path, sessions: int) -> None:
    """A NexusLIMS 2.8 database with ``sessions`` TO_BE_BUILT sessions and 10% history."""
    from nexus_logger.core.instruments import add_instrument
    from nexus_logger.core.schema import init_db

    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    init_db(str(tmp))
    for i, tz in enumerate(ZONES):
        add_instrument(f"BENCH-{i}", display_name=f"Bench {i}", timezone=tz, engine=str(tmp))
    from nexus_logger.core.engine import dispose_engines

    dispose_engines()
    start = datetime(2020, 1, 1, 8, 0)

    def rows():
        history = sessions // 10
        for n in range(history + sessions):
            pid = n % len(ZONES)
            tz = ZoneInfo(ZONES[pid])
            t = (start + timedelta(minutes=90 * n)).replace(tzinfo=tz)
            ident = str(uuid.UUID(int=n))
            user = f"user{n % 97}"
            status = "COMPLETED" if n < history else "TO_BE_BUILT"
            yield (ident, f"BENCH-{pid}", t.isoformat(), "START", status, user)
            yield (
                ident,
                f"BENCH-{pid}",
                (t + timedelta(minutes=45)).isoformat(),
                "END",
                status,
                user,
            )
            if n < history:
                gen = (t + timedelta(days=1)).isoformat(timespec="microseconds")
                yield (ident, f"BENCH-{pid}", gen, "RECORD_GENERATION", status, "nexuslims")

    with sqlite3.connect(tmp) as conn:
        conn.executemany(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, user) VALUES (?, ?, ?, ?, ?, ?)",
            rows(),
        )
    os.replace(tmp, path)


def measure(kind: str, db: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, str(db)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "count": runs[0]["count"],
        "peak_mb": max(r["peak_kb"] for r in runs) / 1024,
        "import_mb": runs[0]["base_kb"] / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "nexus-logger-bench"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe_machine()}, SQLite {sqlite3.sqlite_version}")
    print(
        f"{'sessions':>10} {'rows':>10} | {'get_sessions_to_build':>30} | {'get_all_session_logs':>30}"
    )
    for size in args.sizes:
        db = args.cache / f"sessions-{size}.sqlite"
        if not db.exists():
            build_database(db, size)
        repeat = args.repeat if size <= 100_000 else max(1, min(args.repeat, 3))
        a = measure("to_build", db, repeat)
        b = measure("all_logs", db, repeat)
        assert a["count"] == size, a
        print(
            f"{size:>10,} {b['count']:>10,} | {a['median_s']:>9.3f} s, peak {a['peak_mb']:>7.0f} MB "
            f"| {b['median_s']:>9.3f} s, peak {b['peak_mb']:>7.0f} MB",
            flush=True,
        )
    print(
        "(peak = maximum resident memory of the child process, including ~"
        f"{a['import_mb']:.0f} MB for Python and the imported libraries)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
