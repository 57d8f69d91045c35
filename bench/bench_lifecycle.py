"""Benchmark of the session lifecycle: latency of start/end, and many writers at once.

1. Latency of ``start_session`` and ``end_session`` (median, p99, max) on a local SQLite file
   and on PostgreSQL, with ``--history`` finished sessions already in ``session_log`` (on
   SQLite the open-session check reads the whole table every time: NexusLIMS's table has no
   index on ``instrument`` and its file gets none; PostgreSQL is timed with ``init-db``'s
   partial index and again without it), and of a whole start+end pair as the CLI and the
   window run it (``DurableLogger``: the END also passes through the fsynced local outbox).
   On PostgreSQL it also lists the round trips of one start and one end as the CLI and the
   window make them, counted on the wire (libpq's protocol trace: each wait for the server).
2. ``--procs`` processes x ``--cycles`` start/end cycles, one instrument per process, all on
   one SQLite file (``--procs-backend postgres`` for the server): errors, lost or duplicated
   rows (checked row by row afterwards) and throughput.

Targets: start+end median under 50 ms with 100,000 past sessions on both backends; start and
end in at most 4 round trips each on PostgreSQL (issue 19); 0 errors,
0 lost or duplicated rows. The default run takes a few minutes on a 2-core machine; scale
up or down with the flags.

    python bench/bench_lifecycle.py [--samples 200] [--history 100000] [--procs 20]
                                    [--cycles 100] [--no-postgres] [--procs-backend sqlite]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Denver", "UTC")


def instrument_pid(i: int) -> str:
    return f"BENCH-{i:02d}"


def make_database(target: str, instruments: int, history: int) -> None:
    """NexusLIMS 2.8 schema, ``instruments`` instruments and ``history`` finished sessions."""
    from sqlalchemy import insert

    from nexus_logger.core.db.engine import get_engine, write_transaction
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.models import session_log
    from nexus_logger.core.db.schema import init_db

    init_db(get_engine(target, create=True))
    for i in range(instruments):
        add_instrument(
            instrument_pid(i), display_name=f"Bench {i}", timezone=ZONES[i % 5], engine=target
        )
    rows = []
    for k in range(history):
        ident, pid = str(uuid.uuid4()), instrument_pid(k % instruments)
        day = f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}"
        for event, ts, user in (
            ("START", f"{day}T09:00:00+00:00", "past"),
            ("END", f"{day}T10:00:00+00:00", "past"),
            ("RECORD_GENERATION", f"{day}T23:00:00+00:00", "nexuslims"),
        ):
            rows.append(
                {
                    "session_identifier": ident,
                    "instrument": pid,
                    "timestamp": ts,
                    "event_type": event,
                    "record_status": "COMPLETED",
                    "user": user,
                }
            )
    engine = get_engine(target)
    for i in range(0, len(rows), 30_000):
        with write_transaction(engine) as conn:
            conn.execute(insert(session_log), rows[i : i + 30_000])
    if engine.dialect.name == "postgresql":
        # A real history was written over months and autovacuum has long since processed it;
        # rows inserted a moment ago are not yet marked all-visible, which makes every scan
        # check each row's visibility (about twice as slow). Settle the table the same way.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE session_log")


def drop_open_start_index(target: str) -> None:
    """Remove ``init-db``'s partial index, so that the check reads the whole table again."""
    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.db.open_start_index import NAME

    with get_engine(target).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"DROP INDEX {NAME}")


def summarize(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return {"n": len(ms), "median": statistics.median(ms), "p99": p99, "max": ms[-1]}


def fmt(stats: dict[str, float]) -> str:
    return (
        f"median {stats['median']:6.2f} ms   p99 {stats['p99']:7.2f} ms   "
        f"max {stats['max']:7.2f} ms   (n={stats['n']})"
    )


def latency(target: str, samples: int) -> dict[str, list[float]]:
    """Wall-clock time of each start and end, and the CPU time this process spent on it.

    The CPU time does not grow when other programs load the machine, so it shows the cost of
    nexus-logger's own code (plus SQLite's, which runs in-process) on a busy machine too.
    ``pair`` is a whole start+end through :class:`DurableLogger`, as the CLI and window do it.
    """
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions.lifecycle import end_session, find_open_session, start_session

    pid = instrument_pid(0)
    find_open_session(pid, engine=target)  # warm-up: schema, instrument cache, connection
    durable = DurableLogger(target)
    inst = durable.identify(instrument=pid)
    out: dict[str, list[float]] = {}

    def timed(name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn(*args, **kw)
        c1, t1 = time.process_time(), time.perf_counter()
        out.setdefault(name, []).append(t1 - t0)
        out.setdefault(f"{name}_cpu", []).append(c1 - c0)
        return result

    for _ in range(samples):
        result = timed("start", start_session, instrument=pid, user="bench", engine=target)
        if not result.created:
            raise RuntimeError("a session was unexpectedly open")
        timed("end", end_session, instrument=pid, engine=target)
        c0, t0 = time.process_time(), time.perf_counter()
        outcome = durable.start(instrument=inst, user="bench")
        if not outcome.created or outcome.queued:
            raise RuntimeError(f"start through the DurableLogger failed: {outcome.message}")
        ended = durable.end(outcome.session)
        if ended.queued:
            raise RuntimeError(f"end through the DurableLogger failed: {ended.message}")
        out.setdefault("pair", []).append(time.perf_counter() - t0)
        out.setdefault("pair_cpu", []).append(time.process_time() - c0)
    return out


def round_trips(target: str) -> dict[str, list[str]]:
    """The round trips of one START and one END through :class:`DurableLogger`, in order.

    Counted on the wire (``tests/roundtrips.py``: libpq's protocol trace, one round trip per
    ``ReadyForQuery`` the client waits for), so that statements sent together in a pipeline
    count once. Measured on the second cycle, so that one-off reads (which tables exist, the
    instruments) are not counted.
    """
    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.offline.durable import DurableLogger
    from tests.roundtrips import traced

    eng = get_engine(target)
    durable = DurableLogger(target)
    inst = durable.identify(instrument=instrument_pid(0))
    out: dict[str, list[str]] = {}
    started = durable.start(instrument=inst, user="bench")
    durable.end(started.session)
    with traced(eng) as start_trips:
        started = durable.start(instrument=inst, user="bench")
    with traced(eng) as end_trips:
        durable.end(started.session)
    for name, trips in (("start", start_trips), ("end", end_trips)):
        out[name] = [f"{trips.count} round trips"] + trips.statements()
    return out


def print_round_trips(got: dict[str, list[str]]) -> None:
    for op, lines in got.items():
        print(f"  one {op}: {lines[0]}")
        for line in lines[1:]:
            print(f"    {line}")


def print_latency(label: str, got: dict[str, list[float]]) -> None:
    print(label)
    for op, what in (
        ("start", "start_session"),
        ("end", "end_session"),
        ("pair", "start+end as the CLI/window run them"),
    ):
        cpu = statistics.median(got[f"{op}_cpu"]) * 1000
        print(f"  {what:<40} {fmt(summarize(got[op]))}   client CPU median {cpu:5.2f} ms")


def bare_commit(path: Path, samples: int) -> list[float]:
    """One-row INSERT + COMMIT with plain sqlite3 on the same disk: the floor set by fsync."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("CREATE TABLE t (x INTEGER)")
        times = []
        for i in range(samples):
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?)", (i,))
            conn.execute("COMMIT")
            times.append(time.perf_counter() - t0)
        return times
    finally:
        conn.close()


def worker(target: str, pid: str, cycles: int, barrier: Any, results: Any) -> None:
    """One PC: ``cycles`` start/end cycles on its own instrument, after all are ready."""
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.sessions.lifecycle import end_session, find_open_session, start_session

    errors: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    find_open_session(pid, engine=target)
    barrier.wait(timeout=300)
    begin = time.time()
    for i in range(cycles):
        try:
            t0 = time.perf_counter()
            result = start_session(instrument=pid, user=f"user-{pid}", engine=target)
            t1 = time.perf_counter()
            if not result.created:
                errors.append(f"cycle {i}: a session was already open")
                continue
            end_session(instrument=pid, engine=target)
            t2 = time.perf_counter()
            starts.append(t1 - t0)
            ends.append(t2 - t1)
        except NexusLoggerError as err:
            errors.append(f"cycle {i}: {err}")
    results.put((pid, begin, time.time(), errors, starts, ends))


def check_rows(target: str, pids: list[str], expected_per_pid: int) -> dict[str, int]:
    """Count lost and duplicated rows of the bench instruments, session by session."""
    from sqlalchemy import text

    from nexus_logger.core import get_sessions_to_build
    from nexus_logger.core.db.engine import get_engine, read_connection

    per_session: dict[str, list[tuple[str, str, str, str]]] = {}
    with read_connection(get_engine(target)) as conn:
        rows = conn.execute(
            text(
                'SELECT session_identifier, instrument, event_type, record_status, "user" '
                "FROM session_log WHERE record_status <> 'COMPLETED'"
            )
        ).all()
    for ident, pid, event, status, user in rows:
        per_session.setdefault(ident, []).append((pid, event, status, user))
    good = dup = bad = 0
    for events in per_session.values():
        kinds = sorted(e[1] for e in events)
        if (
            kinds == ["END", "START"]
            and {e[2] for e in events} == {"TO_BE_BUILT"}
            and (len({e[3] for e in events}) == 1)
        ):
            good += 1
        elif len(kinds) > 2:
            dup += 1
        else:
            bad += 1
    expected = expected_per_pid * len(pids)
    built = len(get_sessions_to_build(engine=target))
    return {
        "expected_sessions": expected,
        "complete_sessions": good,
        "lost_sessions": max(0, expected - good),
        "duplicated_sessions": dup + max(0, good - expected),
        "broken_sessions": bad,
        "get_sessions_to_build": built,
    }


def many_writers(target: str, procs: int, cycles: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    pids = [instrument_pid(i) for i in range(procs)]
    workers = [
        ctx.Process(target=worker, args=(target, pid, cycles, barrier, results)) for pid in pids
    ]
    for w in workers:
        w.start()
    got = [results.get(timeout=3600) for _ in workers]
    for w in workers:
        w.join()
    begin = min(g[1] for g in got)
    end = max(g[2] for g in got)
    errors = [e for g in got for e in g[3]]
    starts = [s for g in got for s in g[4]]
    ends = [s for g in got for s in g[5]]
    return {
        "wall": end - begin,
        "errors": errors,
        "start": summarize(starts) if starts else None,
        "end": summarize(ends) if ends else None,
        "rows": check_rows(target, pids, cycles),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--samples", type=int, default=200, help="start/end pairs timed per backend"
    )
    parser.add_argument("--history", type=int, default=100_000, help="finished sessions preloaded")
    parser.add_argument("--procs", type=int, default=20, help="writer processes")
    parser.add_argument("--cycles", type=int, default=100, help="start/end cycles per process")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--procs-backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="backend of the many-writers run",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    os.environ["NEXUS_LOGGER_HOME"] = str(tmp / "home")
    os.environ["NEXUS_LOGGER_MACHINE_DIR"] = str(tmp / "pc")  # never the real PC's outbox
    print(f"Machine: {describe_machine()}")
    print(f"History: {args.history} finished sessions ({3 * args.history} rows) preloaded\n")

    cluster = None
    try:
        sqlite_path = str(tmp / "latency.sqlite")
        make_database(sqlite_path, max(args.procs, 1), args.history)
        got = latency(sqlite_path, args.samples)
        floor = summarize(bare_commit(tmp / "floor.sqlite", args.samples))
        print_latency("SQLite file (local disk), one process:", got)
        print(f"  bare sqlite3 one-row commit on the same disk (floor)  {fmt(floor)}")

        pg_url = None
        if not args.no_postgres or args.procs_backend == "postgres":
            from tests.pgcluster import PgCluster, find_pg_bin

            bin_dir = find_pg_bin()
            if bin_dir is None:
                print("\nPostgreSQL: not installed, skipped")
            else:
                cluster = PgCluster(bin_dir).init()
                cluster.start()
                pg_url = cluster.create_database("bench")
                make_database(pg_url, max(args.procs, 1), args.history)
        if pg_url and not args.no_postgres:
            print_latency(
                "PostgreSQL (local server, TCP, fsync=off as in the test cluster), one process,\n"
                "with the open-session check's partial index (init-db makes it):",
                latency(pg_url, args.samples),
            )
            print_round_trips(round_trips(pg_url))
            drop_open_start_index(pg_url)
            print_latency(
                "PostgreSQL, the same without that index (NexusLIMS's schema only: a server\n"
                "whose owner has not run the roles script):",
                latency(pg_url, args.samples),
            )

        if args.procs > 0:
            if args.procs_backend == "postgres":
                if pg_url is None:
                    print("\nMany writers: PostgreSQL not available, skipped")
                    return 1
                target = cluster.create_database("bench_many")
                label = "PostgreSQL"
            else:
                target = str(tmp / "shared.sqlite")
                label = "one SQLite file"
            make_database(target, args.procs, args.history)
            result = many_writers(target, args.procs, args.cycles)
            total = args.procs * args.cycles
            print(
                f"\nMany writers: {args.procs} processes x {args.cycles} start/end cycles, "
                f"{args.procs} instruments, {label}:"
            )
            print(
                f"  wall {result['wall']:.1f} s, {total / result['wall']:.1f} cycles/s "
                f"({2 * total / result['wall']:.1f} transactions/s)"
            )
            if result["start"]:
                print(f"  start  {fmt(result['start'])}")
                print(f"  end    {fmt(result['end'])}")
            print(f"  errors {len(result['errors'])}")
            for line in result["errors"][:5]:
                print(f"    {line}")
            print("  rows   " + ", ".join(f"{k} {v}" for k, v in result["rows"].items()))
    finally:
        if cluster is not None:
            cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
