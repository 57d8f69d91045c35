"""Benchmark of the Admin tab (issue 6) on a large database.

Builds an SQLite database with ``--sessions`` sessions (default 100,000: about 300,000
``session_log`` rows, most COMPLETED with a RECORD_GENERATION row, 1 % in ERROR, the newest
50 TO_BE_BUILT, three instruments in three time zones), then prints:

1. the core queries the tab runs, each timed (best of ``--repeat``): the first page of the
   default view (TO_BE_BUILT), of all sessions sorted by start / duration, a free-text search,
   a date range, a page deep in the list, the counts per status, one session's rows, a week
   of timeline, the problem scan, and the CSV export of the default view;
2. the tab itself (Qt offscreen, the real database worker): time from ``show()`` to the first
   rows, from a filter change to its first rows, a refresh, and the longest the GUI thread
   went without processing events meanwhile (a 10 ms timer measures the gaps).

Target (issue 6): first rows in under 1 s with 100,000 sessions, GUI thread never blocked.

    python bench/bench_admin.py [--sessions 100000] [--repeat 3] [--keep FILE] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INSTRUMENTS = (
    ("BENCH-TEM-001", "America/New_York"),
    ("BENCH-SEM-002", "Europe/Berlin"),
    ("BENCH-FIB-003", "Asia/Kolkata"),
)


def build(target: str, sessions: int) -> None:
    """The NexusLIMS 2.8 schema and ``sessions`` sessions, written in bulk."""
    from nexus_logger.core.db.engine import get_engine, is_url
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    init_db(get_engine(target, create=True))
    for pid, tz in INSTRUMENTS:
        add_instrument(pid, display_name=pid, timezone=tz, engine=target)
    from zoneinfo import ZoneInfo

    zones = [ZoneInfo(tz) for _, tz in INSTRUMENTS]
    first = datetime.now(UTC) - timedelta(minutes=30 * sessions)
    rows = []
    for i in range(sessions):
        k = i % 3
        pid = INSTRUMENTS[k][0]
        start = (first + timedelta(minutes=30 * i)).astimezone(zones[k])
        end = start + timedelta(minutes=5 + (i * 7) % 300)
        sid = str(uuid.UUID(int=i + 1))
        user = f"user{i % 60}"
        status = "TO_BE_BUILT" if i >= sessions - 50 else "ERROR" if i % 100 == 0 else "COMPLETED"
        rows.append((sid, pid, start.isoformat(), "START", status, user))
        rows.append((sid, pid, end.isoformat(), "END", status, user))
        if status != "TO_BE_BUILT":
            generated = (end + timedelta(hours=2)).isoformat()
            rows.append((sid, pid, generated, "RECORD_GENERATION", status, "nexuslims"))
    sql = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)'
    )
    if is_url(target):
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(target)
        dsn = f"host={u.host} port={u.port} user={u.username} dbname={u.database}"
        if u.password:
            dsn += f" password={u.password}"
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)
        return
    conn = sqlite3.connect(target)
    conn.executemany(sql, rows)
    conn.commit()
    conn.close()


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def core_figures(target: str, repeat: int) -> None:
    from nexus_logger.core.staff import admin_actions, problems
    from nexus_logger.core.staff import summaries as s

    pending = s.SessionQuery(statuses=frozenset({"TO_BE_BUILT"}))
    everything = s.SessionQuery()
    today = date.today()
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            "first page, TO_BE_BUILT (default view)",
            lambda: s.query_sessions(pending, engine=target),
        ),
        ("first page, all statuses by start", lambda: s.query_sessions(everything, engine=target)),
        (
            "first page, all statuses by duration",
            lambda: s.query_sessions(everything.with_(sort="duration"), engine=target),
        ),
        (
            "first page, all statuses by user",
            lambda: s.query_sessions(everything.with_(sort="user"), engine=target),
        ),
        (
            "free text 'user42'",
            lambda: s.query_sessions(everything.with_(text="user42"), engine=target),
        ),
        (
            "date range (last 7 days)",
            lambda: s.query_sessions(
                everything.with_(date_from=today - timedelta(days=7), date_to=today),
                engine=target,
            ),
        ),
        (
            "page at offset 50,000",
            lambda: s.query_sessions(everything, offset=50_000, engine=target),
        ),
        ("counts per status", lambda: s.count_by_status(everything, engine=target)),
        (
            "counts per status, free text",
            lambda: s.count_by_status(everything.with_(text="user42"), engine=target),
        ),
        (
            "one session's rows (detail)",
            lambda: s.session_events(str(uuid.UUID(int=5)), engine=target),
        ),
        (
            "timeline, last 7 days",
            lambda: s.timeline_sessions(
                datetime.now(UTC) - timedelta(days=7), datetime.now(UTC), engine=target
            ),
        ),
        ("problem scan (check)", lambda: problems.find_problems(engine=target)),
        ("audit list", lambda: admin_actions.list_audit(engine=target)),
    ]
    print(f"\nCore queries (best of {repeat}):")
    for label, fn in cases:
        seconds, result = best_of(repeat, fn)
        size = len(result) if hasattr(result, "__len__") else ""
        print(f"  {label:<42} {seconds * 1000:8.1f} ms  ({size} items)")
    with tempfile.TemporaryDirectory() as tmp:
        seconds, n = best_of(
            1, lambda: s.export_csv(everything, Path(tmp) / "all.csv", engine=target)
        )
        print(f"  {'CSV export of all sessions':<42} {seconds * 1000:8.1f} ms  ({n} rows)")


def gui_figures(target: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.gui.admin import AdminTab
    from nexus_logger.gui.worker import DbWorker

    app = QApplication.instance() or QApplication([])
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)

    def wait(cond: Callable[[], bool], timeout: float = 60.0) -> float:
        t0 = time.perf_counter()
        while not cond():
            app.processEvents()
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the tab did not answer in time")
            time.sleep(0.002)
        return time.perf_counter() - t0

    worker = DbWorker()
    settings = load_settings(None, {"database": target, "admin_refresh_seconds": 0})
    tab = AdminTab(worker, target, settings)
    tab.resize(1280, 800)
    print("\nThe tab (Qt offscreen, real database worker):")
    last[0] = clock.elapsed()
    t0 = time.perf_counter()
    tab.show()
    first = wait(lambda: tab.model.rowCount() > 0)
    print(f"  show() -> first rows (TO_BE_BUILT)           {first * 1000:8.1f} ms")
    idle = wait(lambda: not tab.busy and not tab.model.loading)
    print(
        f"  show() -> counts and problem scan done       {(time.perf_counter() - t0) * 1000:8.1f} ms"
    )
    del idle
    gaps.clear()
    t0 = time.perf_counter()
    tab.set_status_filter(None)
    rows = wait(lambda: tab.model.rowCount() == tab.model.page_size and not tab.model.loading)
    print(f"  filter 'all statuses' -> first rows          {rows * 1000:8.1f} ms")
    wait(lambda: not tab.busy)
    tab.search_edit.setText("user42")
    t0 = time.perf_counter()
    tab.apply_filters()
    wait(lambda: not tab.model.loading)
    print(
        f"  free text 'user42' -> first rows             {(time.perf_counter() - t0) * 1000:8.1f} ms"
    )
    wait(lambda: not tab.busy)
    t0 = time.perf_counter()
    tab.refresh()
    wait(lambda: not tab.busy and tab.last_refresh is not None)
    print(
        f"  refresh (list, counts, problems)             {(time.perf_counter() - t0) * 1000:8.1f} ms"
    )
    tab.search_edit.clear()
    tab.apply_filters()
    wait(lambda: not tab.busy)
    loaded = tab.model.rowCount()
    t0 = time.perf_counter()
    tab.model.fetchMore()  # what the view calls when it is scrolled to the bottom
    wait(lambda: tab.model.rowCount() > loaded)
    print(
        f"  next page (fetchMore), all statuses          {(time.perf_counter() - t0) * 1000:8.1f} ms"
    )
    wait(lambda: not tab.busy)
    print(f"  longest GUI-thread gap during the above      {max(gaps):8.1f} ms (timer every 10 ms)")
    timer.stop()
    tab.close()
    worker.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="build the SQLite database here and keep it")
    parser.add_argument("--pg-url", metavar="URL", help="also time the core queries on PostgreSQL")
    parser.add_argument(
        "--pg",
        action="store_true",
        help="also time them on a throw-away PostgreSQL server (tests/pgcluster.py)",
    )
    parser.add_argument("--no-gui", action="store_true", help="skip the Qt part")
    args = parser.parse_args()
    os.environ.setdefault("NEXUS_LOGGER_HOME", tempfile.mkdtemp(prefix="bench-admin-"))
    os.environ.setdefault("NEXUS_LOGGER_MACHINE_DIR", tempfile.mkdtemp(prefix="bench-admin-pc-"))
    print(f"Machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        target = args.keep or str(Path(tmp) / "admin-bench.sqlite")
        if not Path(target).exists():
            t0 = time.perf_counter()
            build(target, args.sessions)
            print(f"Built {args.sessions} sessions in {time.perf_counter() - t0:.1f} s: {target}")
        size = Path(target).stat().st_size / 1e6
        print(f"SQLite file: {size:.0f} MB")
        core_figures(target, args.repeat)
        if not args.no_gui:
            gui_figures(target)
        cluster = None
        pg_url = args.pg_url
        if args.pg and not pg_url:
            from tests.pgcluster import PgCluster, find_pg_bin

            bin_dir = find_pg_bin()
            if bin_dir is None:
                print("\nPostgreSQL is not installed; --pg skipped.")
            else:
                cluster = PgCluster(bin_dir).init()
                cluster.start()
                pg_url = cluster.create_database("bench")
        try:
            if pg_url:
                t0 = time.perf_counter()
                build(pg_url, args.sessions)
                print(f"\nPostgreSQL ({time.perf_counter() - t0:.1f} s to load):", end="")
                core_figures(pg_url, args.repeat)
        finally:
            from nexus_logger.core.db.engine import dispose_engines

            dispose_engines()
            if cluster is not None:
                cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
