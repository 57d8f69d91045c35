"""Wall time of headless commands as a user runs them, next to the plain interpreter's floor.

    python bench/bench_cli.py [--runs 11] [--command CMD ...]

Each figure is the median of ``--runs`` fresh processes (after one warm-up that fills the OS
file cache and the bytecode cache), on a new local SQLite database with one instrument:
``nexus-logger --help``, ``session status``, ``session start`` and ``session end`` (start and
end alternate, so each is a real start or end), beside ``python -c pass`` and
``python -c "import sqlalchemy"``. Target (issue 19): each command under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmachine import describe_machine, launch_command, user_environment

TARGET_MS = 300.0
PID = "BENCH-TEM-01"


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument(
        "--command", nargs=argparse.REMAINDER, help="the program, last (default: nexus-logger)"
    )
    args = parser.parse_args()
    launch = args.command or launch_command()
    with tempfile.TemporaryDirectory(prefix="nexus-logger-bench-cli-") as tmp:
        env = user_environment(
            NEXUS_LOGGER_HOME=str(Path(tmp) / "home"),
            NEXUS_LOGGER_MACHINE_DIR=str(Path(tmp) / "pc"),  # never the real PC's outbox
        )
        os.environ["NEXUS_LOGGER_HOME"] = env["NEXUS_LOGGER_HOME"]
        os.environ["NEXUS_LOGGER_MACHINE_DIR"] = env["NEXUS_LOGGER_MACHINE_DIR"]
        from nexus_logger.core.db.instruments import add_instrument
        from nexus_logger.core.db.schema import init_db

        db = str(Path(tmp) / "bench.sqlite")
        init_db(db)
        add_instrument(PID, display_name="Bench TEM", timezone="UTC", engine=db)
        where = ["--db", db]
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import sqlalchemy"': [sys.executable, "-c", "import sqlalchemy"],
            "nexus-logger --help": [*launch, "--help"],
            "nexus-logger session status": [
                *launch,
                *where,
                "session",
                "status",
                "--instrument",
                PID,
            ],
        }
        start = [*launch, *where, "session", "start", "--instrument", PID]
        end = [*launch, *where, "session", "end", "--instrument", PID]
        results: dict[str, list[float]] = {name: [] for name in cases}
        results["nexus-logger session start"] = []
        results["nexus-logger session end"] = []
        for name, command in cases.items():
            _time(command, env)  # warm-up
            results[name] = [_time(command, env) for _ in range(args.runs)]
        _time(start, env)
        _time(end, env)  # warm-up pair
        for _ in range(args.runs):
            results["nexus-logger session start"].append(_time(start, env))
            results["nexus-logger session end"].append(_time(end, env))
    print(describe_machine())
    print(f"command: {' '.join(launch)}")
    print(f"median of {args.runs} fresh processes each (ms); target {TARGET_MS:.0f} ms")
    for name, times in results.items():
        median = statistics.median(times)
        mark = "" if name.startswith("python") else (" met" if median < TARGET_MS else " NOT met")
        print(
            f"  {name:34} median {median:6.0f}  min {min(times):6.0f}  max {max(times):6.0f}{mark}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
