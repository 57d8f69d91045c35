"""Soak test of the outbox (issue 4): start/end cycles while the database keeps disappearing.

A "chaos" thread renames the SQLite database file away and back at random moments (a network
share dropping and coming back), while the main thread runs start/end cycles through
:class:`~nexus_logger.core.offline.durable.DurableLogger`, exactly as the window does, and a second
thread replays the outbox every few tens of milliseconds (the window's background timer). When
the cycles are done the file is put back and the outbox is replayed until nothing waits.

Then every START and END the user "clicked" is looked up in the database, row by row:

* events generated: STARTs that were started plus ENDs that were ended (2 per cycle);
* events in the database: START/END rows of those sessions;
* duplicates: rows beyond one START and one END per session;
* lost: clicked events with no row.

Targets: lost 0, duplicates 0, and NexusLIMS's strict pairing holds for every session. The
default run (1,000 cycles) takes about 1.5 minutes on 2 cores.

    python bench/soak_outbox.py [--cycles 1000] [--seed 1] [--up-ms 400] [--down-ms 100]
                                [--timeout 1.0] [--no-sync-thread] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PID = "SOAK-TEM-001"


class Chaos(threading.Thread):
    """Renames the database away and back at random moments until stopped."""

    def __init__(self, path: Path, rng: random.Random, up_ms: float, down_ms: float) -> None:
        super().__init__(name="chaos", daemon=True)
        self.path = path
        self.away = path.with_name(path.name + ".away")
        self.rng = rng
        self.up = up_ms / 1000
        self.down = down_ms / 1000
        self.stop = threading.Event()
        self.outages = 0
        self.time_away = 0.0

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0, 2 * self.up)):
            os.replace(self.path, self.away)
            self.outages += 1
            t = time.monotonic()
            self.stop.wait(self.rng.uniform(0, 2 * self.down))
            os.replace(self.away, self.path)
            self.time_away += time.monotonic() - t

    def finish(self) -> None:
        self.stop.set()
        self.join()
        if self.away.exists():
            os.replace(self.away, self.path)


def main(argv: list[str] | None = None) -> int:
    # The outages are deliberate: keep the expected "kept on this PC" warnings off the screen.
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="start/end cycles (1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--up-ms", type=float, default=400, help="mean time the file stays (400)")
    parser.add_argument("--down-ms", type=float, default=100, help="mean time it is away (100)")
    parser.add_argument("--timeout", type=float, default=1.0, help="db_timeout_seconds (1.0)")
    parser.add_argument("--no-sync-thread", action="store_true", help="no background replays")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="nexus-logger-soak-"))
    os.environ["NEXUS_LOGGER_HOME"] = str(work / "home")
    os.environ["NEXUS_LOGGER_MACHINE_DIR"] = str(work / "pc")  # a private outbox
    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.session_handler import get_sessions_to_build

    db = work / "nexuslims.sqlite"
    init_db(engines.get_engine(str(db), create=True))
    add_instrument(PID, display_name="Soak TEM", timezone="America/New_York", engine=str(db))
    durable = DurableLogger(str(db), timeout=args.timeout, lock_wait=30.0)
    durable.identify(instrument=PID)

    rng = random.Random(args.seed)
    chaos = Chaos(db, random.Random(args.seed + 1), args.up_ms, args.down_ms)
    clicked: Counter[tuple[str, str]] = Counter()
    queued = Counter()
    errors: list[str] = []
    syncing = threading.Event()

    def background() -> None:
        while not syncing.wait(0.05):
            try:
                durable.sync()
            except NexusLoggerError as err:  # counted: the target is none
                errors.append(f"background sync: {err}")

    syncer = threading.Thread(target=background, name="sync", daemon=True)
    t0 = time.monotonic()
    chaos.start()
    if not args.no_sync_thread:
        syncer.start()
    for i in range(args.cycles):
        user = f"user{i % 7}"
        try:
            inst = durable.identify(instrument=PID)
            started = durable.start(instrument=inst, user=user)
            if not started.created:
                errors.append(
                    f"cycle {i}: start found session {started.session.session_identifier} open"
                )
                session = started.session
            else:
                session = started.session
                clicked[(session.session_identifier, "START")] += 1
                queued["START"] += started.queued
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.01))  # someone working at the instrument
            ended = durable.end(session)
            clicked[(session.session_identifier, "END")] += 1
            queued["END"] += ended.queued
        except NexusLoggerError as err:
            errors.append(f"cycle {i}: {err}")
    chaos.finish()
    syncing.set()
    if syncer.is_alive():
        syncer.join()
    elapsed = time.monotonic() - t0

    rounds = 0
    while durable.pending_count() and rounds < 10:
        durable.sync()
        rounds += 1

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT session_identifier, event_type, record_status, user FROM session_log "
            "WHERE event_type IN ('START', 'END')"
        ).fetchall()
    in_db = Counter((sid, event) for sid, event, _status, _user in rows)
    ours = {key for key in clicked}
    duplicates = sum(n - 1 for key, n in in_db.items() if n > 1)
    lost = sum(1 for key in ours if in_db[key] == 0)
    strangers = sum(n for key, n in in_db.items() if key not in ours)
    try:
        built = get_sessions_to_build(strict=True, engine=str(db))
        pairing = f"holds ({len(built)} sessions to build)"
    except ValueError as err:
        pairing = f"BROKEN: {err}"
    waiting_status = Counter(status for _sid, _event, status, _user in rows)

    generated = sum(clicked.values())
    waiting = durable.pending_count()
    print(f"machine:              {describe_machine()}")
    print(f"cycles:               {args.cycles} (seed {args.seed}, timeout {args.timeout} s)")
    print(
        f"outages:              {chaos.outages} (file away {chaos.time_away:.1f} s of {elapsed:.1f} s)"
    )
    print(f"events generated:     {generated}")
    kept = queued["START"] + queued["END"]
    print(f"  written at once:    {generated - kept}")
    print(f"  kept on the PC:     {kept} ({queued['START']} START, {queued['END']} END)")
    print(f"events in database:   {sum(in_db[k] for k in ours)}")
    print(f"duplicates:           {duplicates}")
    print(f"lost:                 {lost}")
    print(f"rows not clicked:     {strangers}")
    print(f"still waiting:        {waiting} (after {rounds} final replay(s))")
    print(f"conflicts:            {len(durable.conflicts())}")
    print(f"errors:               {len(errors)}")
    for line in errors[:10]:
        print(f"  {line}")
    print(f"record_status:        {dict(waiting_status)}")
    print(f"pairing (strict):     {pairing}")
    print(
        f"time:                 {elapsed:.1f} s ({1000 * elapsed / max(1, args.cycles):.1f} ms/cycle)"
    )
    if args.keep:
        print(f"kept:                 {work}")
    else:
        engines.dispose_engines()
        shutil.rmtree(work, ignore_errors=True)
    ok = lost == 0 and duplicates == 0 and strangers == 0 and not errors
    return 0 if ok and pairing.startswith("holds") and not waiting else 1


if __name__ == "__main__":
    sys.exit(main())
