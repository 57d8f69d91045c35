"""Start-up time of the window: from launching ``nexus-logger`` to the window on screen, and
to the session's START committed in the database.

    python bench/bench_startup.py [--runs 10] [--json] [--command CMD ...]

Each run starts a fresh process exactly as a user does (the console script, or
``python -m nexus_logger`` where the script is not on PATH; ``--command`` for the one-folder
build) with ``NEXUS_LOGGER_STARTUP_PROBE=start``: the app prints "window shown" from its event
loop right after the window was shown, starts the session as on any launch, prints "START
committed" once the database has answered, ends the run and quits. Both times are measured
here, from just before the process is created to the moment each line arrives; the session is
ended between runs (not timed). One warm-up run (which fills the OS file cache
and Python's bytecode cache) is not counted. Qt runs offscreen, so the figures include
everything but the compositor's first paint. The budget (0.5 s) is for "START committed".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmachine import launch_command, machine_facts, user_environment

BUDGET_MS = 500.0


def make_database(folder: Path) -> str:
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    path = str(folder / "bench.sqlite")
    init_db(path)
    add_instrument("BENCH-TEM-01", display_name="Bench TEM", timezone="UTC", engine=path)
    return path


def one_run(command: list[str], env: dict[str, str], end_command: list[str]) -> tuple[float, float]:
    """(ms to "window shown", ms to "START committed") of one launch."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    shown = time.perf_counter()
    second = proc.stdout.readline()
    committed = time.perf_counter()
    _out, err = proc.communicate(timeout=60)
    if line.strip() != "window shown" or second.strip() != "START committed":
        raise SystemExit(
            f"the window did not start a session (exit {proc.returncode}): {line!r} "
            f"{second!r} {err}"
        )
    # The app ends its session when it quits (on_quit); this makes sure, whatever the setting.
    subprocess.run(end_command, env=env, capture_output=True, timeout=60)
    return (shown - started) * 1000, (committed - started) * 1000


def _figures(times: list[float]) -> dict[str, object]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "all_ms": [round(t, 1) for t in times],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--command", nargs="+", help="the program to launch (default: nexus-logger from source)"
    )
    args = parser.parse_args()
    launch = args.command or launch_command()
    with tempfile.TemporaryDirectory(prefix="nexus-logger-bench-") as tmp:
        home = Path(tmp)
        os.environ["NEXUS_LOGGER_HOME"] = str(home / "home")
        os.environ["NEXUS_LOGGER_MACHINE_DIR"] = str(home / "pc")  # never the real PC's outbox
        database = make_database(home)
        env = user_environment()
        env.update(
            QT_QPA_PLATFORM="offscreen",
            NEXUS_LOGGER_STARTUP_PROBE="start",
            NEXUS_LOGGER_HOME=str(home / "home"),
            NEXUS_LOGGER_MACHINE_DIR=str(home / "pc"),
        )
        where = ["--db", database, "--instrument", "BENCH-TEM-01"]
        command = [*launch, *where]
        end_command = [*launch, "--db", database, "session", "end", "--instrument", "BENCH-TEM-01"]
        one_run(command, env, end_command)  # warm-up, not counted
        runs = [one_run(command, env, end_command) for _ in range(args.runs)]
    shown = _figures([r[0] for r in runs])
    committed = _figures([r[1] for r in runs])
    result = {
        "command": " ".join(launch) + " --db DB --instrument PID",
        "runs": args.runs,
        "window_shown": shown,
        "start_committed": committed,
        "budget_ms": BUDGET_MS,
        "machine": machine_facts(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for label, fig in (("window shown", shown), ("START committed", committed)):
            print(
                f"launch -> {label}, {args.runs} runs: median {fig['median_ms']} ms "
                f"(min {fig['min_ms']}, max {fig['max_ms']})"
            )
        print(f"budget: {BUDGET_MS:.0f} ms to START committed")
        for key, value in result["machine"].items():
            print(f"{key}: {value}")
    return 0 if committed["median_ms"] < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
