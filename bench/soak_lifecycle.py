"""Soak test of the lifecycle: simulated PCs, kill -9 at random and database outages.

``--pcs`` simulated instrument PCs (each its own ``NEXUS_LOGGER_HOME``: its own outbox and
local files), two per instrument so that they contend, run ``nexus-logger session start`` and
``session end`` as real processes for ``--minutes``. Meanwhile:

* a process is killed with SIGKILL at a random moment (``--kill`` of the runs), or at one of
  the named fault points of nexus_logger/core/faults.py (``--fault`` of the runs);
* the SQLite database is renamed away for a moment at random (a share that drops).

Afterwards every PC runs ``nexus-logger sync`` with the database back, and the database is
checked with the plain sqlite3 driver:

* at most one open session per instrument;
* no two TO_BE_BUILT sessions overlapping on an instrument;
* every TO_BE_BUILT START has its END with the same user (NexusLIMS's pairing; the real
  NexusLIMS would otherwise stop its build run);
* no duplicate START or END rows;
* no clicked END lost: every ``session end`` that told its user "Ended session X" has X's END
  in the database, or held on its PC with a conflict.

    python bench/soak_lifecycle.py [--pcs 4] [--minutes 3] [--seed 1] [--kill 0.1] [--fault 0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INSTRUMENTS = ("SOAK-TEM-001", "SOAK-SEM-002")
FAULTS = (
    "start:before-db",
    "start:committed",
    "start:kept",
    "start:confirmed",
    "send:start-committed",
    "end:kept",
    "send:end-before-commit",
    "send:end-committed",
    "end:sent",
)
ENDED = re.compile(r"Ended session (\S+) ")


class Outages(threading.Thread):
    """Renames the database away and back at random moments until stopped."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        super().__init__(name="outages", daemon=True)
        self.path, self.rng = path, rng
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        away = self.path.with_name(self.path.name + ".away")
        while not self.stop.wait(self.rng.uniform(4.0, 10.0)):
            os.replace(self.path, away)
            self.count += 1
            self.stop.wait(self.rng.uniform(0.5, 3.0))
            os.replace(away, self.path)


def make_database(path: Path) -> None:
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    init_db(str(path))
    for pid, tz in zip(INSTRUMENTS, ("America/New_York", "Europe/Berlin"), strict=True):
        add_instrument(pid, display_name=pid, timezone=tz, engine=str(path))


def env_for(home: Path, fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_LOGGER_")}
    # Each simulated PC has its own machine folder, so its own outbox.
    env.update(
        NEXUS_LOGGER_HOME=str(home),
        NEXUS_LOGGER_MACHINE_DIR=str(home / "pc"),
        NEXUS_LOGGER_DB_TIMEOUT_SECONDS="2",
    )
    if fault:
        env["NEXUS_LOGGER_FAULT"] = fault
    return env


class PC(threading.Thread):
    """One instrument PC: start, work a moment, end; over and over, with crashes."""

    def __init__(self, n: int, root: Path, db: Path, args: argparse.Namespace) -> None:
        super().__init__(name=f"pc{n}", daemon=True)
        self.home = root / f"pc{n}"
        self.db = db
        self.pid = INSTRUMENTS[n % len(INSTRUMENTS)]
        self.rng = random.Random(args.seed * 100 + n)
        self.args = args
        self.deadline = time.monotonic() + args.minutes * 60
        self.stats: Counter[str] = Counter()
        self.told_ended: list[str] = []

    def run(self) -> None:
        action = "start"
        while time.monotonic() < self.deadline:
            # Each PC's user ends only their own session (another user's takes --session).
            code, out = self._run("session", action, "--instrument", self.pid, "--user", self.name)
            self.stats[f"{action} exit {code}"] += 1
            if action == "end" and code == 0:
                self.told_ended += ENDED.findall(out)
            action = "end" if action == "start" else "start"
            time.sleep(self.rng.uniform(0.0, 0.5))

    def _run(self, *args: str) -> tuple[int, str]:
        roll = self.rng.random()
        fault = self.rng.choice(FAULTS) if roll < self.args.fault else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexus_logger", *args, "--db", str(self.db)],
            env=env_for(self.home, fault),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if fault is None and roll < self.args.fault + self.args.kill:
            timer = threading.Timer(self.rng.uniform(0.2, 1.0), _kill, (proc,))
            timer.start()
        out, _ = proc.communicate(timeout=120)
        if proc.returncode == -signal.SIGKILL:
            self.stats["killed"] += 1
        return proc.returncode, out

    def sync(self) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "nexus_logger", "sync", "--db", str(self.db)],
            env=env_for(self.home, None),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()


def check(db: Path, pcs: list[PC]) -> dict[str, int]:
    from nexus_logger.core.db.engine import get_engine, read_connection
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.offline.outbox import EventKind, EventState
    from nexus_logger.core.staff.overlaps import find_overlaps

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT session_identifier, instrument, event_type, record_status, user FROM session_log"
    ).fetchall()
    conn.close()
    events = Counter((r[0], r[2]) for r in rows)
    duplicates = sum(n - 1 for n in events.values() if n > 1)
    ends = {r[0] for r in rows if r[2] == "END"}
    open_by_instrument = Counter(
        r[1] for r in rows if r[2] == "START" and r[0] not in ends and r[3] != "ERROR"
    )
    starts = {r[0]: r for r in rows if r[2] == "START"}
    unpaired = 0
    for r in rows:
        if r[2] == "START" and r[3] == "TO_BE_BUILT":
            partner = [e for e in rows if e[0] == r[0] and e[2] == "END" and e[3] == "TO_BE_BUILT"]
            if len(partner) != 1 or partner[0][4] != r[4] or partner[0][1] != r[1]:
                unpaired += 1
    with read_connection(get_engine(str(db))) as c:
        pairs = find_overlaps(c, time.time())
    overlapping = sum(
        1 for p in pairs if p.earlier.status == "TO_BE_BUILT" and p.later.status == "TO_BE_BUILT"
    )
    lost = 0
    for pc in pcs:
        box = DurableLogger(str(db), outbox_path=pc.home / "data" / "outbox.sqlite")
        held = {
            e.session_identifier
            for e in box.outbox.items(states=(EventState.HELD,))
            if e.kind is EventKind.END
        }
        lost += sum(1 for ident in pc.told_ended if ident not in ends and ident not in held)
    return {
        "sessions": len(starts),
        "open sessions on one instrument (max)": max(open_by_instrument.values(), default=0),
        "overlapping TO_BE_BUILT pairs": overlapping,
        "TO_BE_BUILT STARTs without their END": unpaired,
        "duplicate rows": duplicates,
        "clicked ENDs lost": lost,
        "ENDs the users were told about": sum(len(pc.told_ended) for pc in pcs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pcs", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill", type=float, default=0.1, help="share of runs killed at random")
    parser.add_argument("--fault", type=float, default=0.1, help="share killed at a fault point")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="soak-lifecycle-"))
    os.environ["NEXUS_LOGGER_HOME"] = str(root / "bench")
    os.environ["NEXUS_LOGGER_MACHINE_DIR"] = str(root / "bench" / "pc")
    db = root / "nexuslims.sqlite"
    make_database(db)
    print(f"Machine: {describe_machine()}")
    print(
        f"{args.pcs} PCs on {len(INSTRUMENTS)} instruments for {args.minutes} min, seed {args.seed}"
    )
    outages = Outages(db, random.Random(args.seed))
    pcs = [PC(n, root, db, args) for n in range(args.pcs)]
    began = time.monotonic()
    outages.start()
    for pc in pcs:
        pc.start()
    for pc in pcs:
        pc.join()
    outages.stop.set()
    outages.join()
    sync_codes = [pc.sync() for pc in pcs]
    took = time.monotonic() - began
    totals: Counter[str] = Counter()
    for pc in pcs:
        totals.update(pc.stats)
    print(f"ran {took:.0f} s; database outages: {outages.count}")
    print("runs: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    print(f"final sync exit codes: {sync_codes}")
    result = check(db, pcs)
    for key, value in result.items():
        print(f"  {key}: {value}")
    bad = (
        result["open sessions on one instrument (max)"] > 1
        or result["overlapping TO_BE_BUILT pairs"]
        or result["TO_BE_BUILT STARTs without their END"]
        or result["duplicate rows"]
        or result["clicked ENDs lost"]
    )
    print("INVARIANTS " + ("BROKEN" if bad else "HOLD"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
