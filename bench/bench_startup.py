"""Start-up time of the window: from launching ``nexus-logger`` to the window on screen.

    python bench/bench_startup.py [--runs 10] [--json]

Each run starts a fresh process exactly as a user does (the console script, or
``python -m nexus_logger`` where the script is not on PATH) with
``NEXUS_LOGGER_STARTUP_PROBE=1``: the app prints "window shown" from its event loop right
after the window was shown, then quits before any database work. The time is measured here,
from just before the process is created to the moment that line arrives. One warm-up run
(which fills the OS file cache and Python's bytecode cache) is not counted. Qt runs
offscreen, so the figure includes everything but the compositor's first paint.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmachine import machine_facts

BUDGET_MS = 500.0


def make_database(folder: Path) -> str:
    from nexus_logger.core.instruments import add_instrument
    from nexus_logger.core.schema import init_db

    path = str(folder / "bench.sqlite")
    init_db(path)
    add_instrument("BENCH-TEM-01", display_name="Bench TEM", timezone="UTC", engine=path)
    return path


def launch_command() -> list[str]:
    script = shutil.which("nexus-logger")
    return [script] if script else [sys.executable, "-m", "nexus_logger"]


def one_run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    shown = time.perf_counter()
    _out, err = proc.communicate(timeout=60)
    if line.strip() != "window shown" or proc.returncode != 0:
        raise SystemExit(f"the window did not start (exit {proc.returncode}): {line!r} {err}")
    return (shown - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nexus-logger-bench-") as tmp:
        home = Path(tmp)
        os.environ["NEXUS_LOGGER_HOME"] = str(home / "home")
        database = make_database(home)
        env = dict(os.environ)
        env.update(
            QT_QPA_PLATFORM="offscreen",
            NEXUS_LOGGER_STARTUP_PROBE="1",
            NEXUS_LOGGER_HOME=str(home / "home"),
        )
        command = [*launch_command(), "--db", database, "--instrument", "BENCH-TEM-01"]
        one_run(command, env)  # warm-up, not counted
        times = [one_run(command, env) for _ in range(args.runs)]
    result = {
        "command": ("nexus-logger" if shutil.which("nexus-logger") else "python -m nexus_logger")
        + " --db DB --instrument PID",
        "runs": args.runs,
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "all_ms": [round(t, 1) for t in times],
        "budget_ms": BUDGET_MS,
        "machine": machine_facts(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"launch -> window shown, {args.runs} runs: median {result['median_ms']} ms "
            f"(min {result['min_ms']}, max {result['max_ms']}; budget {BUDGET_MS:.0f} ms)"
        )
        print("all runs (ms):", ", ".join(f"{t:.0f}" for t in times))
        for key, value in result["machine"].items():
            print(f"{key}: {value}")
    return 0 if result["median_ms"] < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
