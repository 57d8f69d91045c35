"""Benchmark of the packaged app (issue 8): size on disk and launch-to-window time.

Builds the one-folder and the one-file app with ``packaging/build.py`` (or reuses builds with
``--reuse``), then measures:

1. the one-folder size (bytes of all files, as copied to an instrument PC) and the one-file
   size;
2. launch-to-window: the wall time from starting the executable to the window being on screen,
   through the real launch path (``nexus-logger`` without arguments; the window prints
   ``window shown`` and quits when ``NEXUS_LOGGER_STARTUP_PROBE=1``). The first launch after
   the build is reported apart from the following ones (median, min, max);
3. the ``--smoke`` self-test of each build, as a check that what was measured works.

Budgets (issue 8): one folder under 150 MB and under 0.5 s to the window; one file under 1.5 s.
A Markdown section for ``docs/performance.md`` is printed at the end.

    python bench/bench_packaged.py [--runs 11] [--dist DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))
import nexus_packaging as nxp  # noqa: E402
from benchmachine import describe_machine  # noqa: E402

SIZE_BUDGET_MB = 150.0
ONE_FOLDER_BUDGET_S = 0.5
ONE_FILE_BUDGET_S = 1.5
EXE = ".exe" if sys.platform == "win32" else ""


def versions() -> str:
    import PyInstaller
    import PySide6

    return (
        f"Python {platform.python_version()}, PyInstaller {PyInstaller.__version__}, "
        f"PySide6 {PySide6.__version__}, nexus-logger {nxp.package_version()}"
    )


def build(dist: Path, *, onefile: bool) -> float:
    """Run ``packaging/build.py``; return the build time in seconds."""
    cmd = [sys.executable, str(ROOT / "packaging" / "build.py"), "--quiet", "--no-smoke"]
    cmd += ["--dist", str(dist), "--work", str(dist.parent / "work")]
    if onefile:
        cmd.append("--onefile")
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"build failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - started


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` and its child processes (Linux only).

    The one-file app is two processes (the unpacking bootloader and the app), hence the
    children. CPU time hardly changes when other work competes for the machine, unlike the
    wall time, so it tells whether a slow launch was the app or the neighbours.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str]:
        text = (proc / str(p) / "stat").read_text()
        return text[text.rindex(")") + 2 :].split()

    try:
        pids = [pid]
        children = proc / str(pid) / "task" / str(pid) / "children"
        if children.exists():
            pids += [int(c) for c in children.read_text().split()]
        total = 0
        for p in pids:
            fields = stat(p)
            total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, ValueError):
        return None


def launch_to_window(
    exe: Path, home: Path, extra_env: dict[str, str] | None = None
) -> tuple[float, float | None]:
    """Wall and CPU seconds from starting ``exe`` to its ``window shown`` line.

    This is the real launch path: ``nexus-logger`` without arguments, which prints the line
    and quits once the window is shown when ``NEXUS_LOGGER_STARTUP_PROBE=1``.
    """
    env = dict(os.environ, NEXUS_LOGGER_STARTUP_PROBE="1", QT_QPA_PLATFORM="offscreen")
    env["NEXUS_LOGGER_HOME"] = str(home)
    env["NEXUS_LOGGER_MACHINE_DIR"] = str(home / "pc")  # never the real PC's outbox
    for name in ("NX_DB_PATH", "NEXUS_LOGGER_DB", "NEXUS_LOGGER_CONFIG"):
        env.pop(name, None)
    env.update(extra_env or {})
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    shown = time.perf_counter() - started
    cpu = _cpu_seconds(proc.pid)
    proc.stdout.read()
    if proc.wait(timeout=60) != 0 or line.strip() != "window shown":
        raise RuntimeError(f"{exe} did not report its window (exit {proc.returncode}): {line!r}")
    return shown, cpu


def smoke(exe: Path, home: Path) -> str:
    env = dict(os.environ, NEXUS_LOGGER_HOME=str(home))
    result = subprocess.run([str(exe), "--smoke"], env=env, capture_output=True, text=True)
    last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode != 0:
        raise RuntimeError(f"{exe} --smoke failed: {result.stdout}{result.stderr}")
    return last


def summarize(samples: list[tuple[float, float | None]]) -> dict[str, float | None]:
    """First launch apart; median, min and max of the others; median CPU time."""
    times = [wall for wall, _ in samples]
    cpus = [cpu for _, cpu in samples[1:] if cpu is not None]
    rest = times[1:] or times
    return {
        "first": times[0],
        "median": statistics.median(rest),
        "min": min(rest),
        "max": max(rest),
        "cpu": statistics.median(cpus) if cpus else None,
    }


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return f"{os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="launches per build (default 11)")
    parser.add_argument("--dist", type=Path, help="build folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="measure the builds in --dist")
    args = parser.parse_args(argv)
    if args.reuse and args.dist is None:
        parser.error("--reuse needs --dist")

    with tempfile.TemporaryDirectory(prefix="bench-packaged-") as tmp:
        dist = (args.dist or Path(tmp) / "dist").resolve()
        home = Path(tmp) / "home"
        build_s: dict[str, float] = {}
        if not args.reuse:
            build_s["one folder"] = build(dist, onefile=False)
            build_s["one file"] = build(dist, onefile=True)
        folder_exe = dist / nxp.APP_NAME / f"{nxp.GUI_EXE}{EXE}"
        file_exe = dist / "onefile" / f"{nxp.GUI_EXE}{EXE}"
        if sys.platform == "win32":  # the windowed .exe has no stdout: use the console twin
            folder_exe = folder_exe.with_name(f"{nxp.CLI_EXE}{EXE}")
        folder_bytes = nxp.dir_size(dist / nxp.APP_NAME)
        folder_files = sum(1 for p in (dist / nxp.APP_NAME).rglob("*") if p.is_file())
        file_bytes = file_exe.stat().st_size

        # (label, executable, extra environment, budget or None for an informative row)
        variants: list[tuple[str, Path, dict[str, str], float | None]] = [
            ("one folder", folder_exe, {}, ONE_FOLDER_BUDGET_S),
            ("one file", file_exe, {}, ONE_FILE_BUDGET_S),
        ]
        if sys.platform == "win32":
            # The one-file .exe is windowed and cannot print "window shown": not timed here.
            variants.pop()
        if sys.platform.startswith("linux") and Path("/dev/shm").is_dir():
            # The one-file app unpacks into TMPDIR: in memory instead of on disk.
            variants.append(("one file, TMPDIR=/dev/shm", file_exe, {"TMPDIR": "/dev/shm"}, None))
        load_before = _load()
        samples: dict[str, list[tuple[float, float | None]]] = {v[0]: [] for v in variants}
        for _ in range(args.runs):  # interleaved, so that every variant sees the same load
            for label, exe, extra, _budget in variants:
                samples[label].append(launch_to_window(exe, home, extra))
        load_after = _load()
        results = {label: summarize(runs) for label, runs in samples.items()}
        smokes = {"one folder": smoke(folder_exe, home), "one file": smoke(file_exe, home)}
        where = describe_machine()

    budgets = {label: budget for label, _, _, budget in variants}
    size_mb = folder_bytes / 1e6
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} by `python bench/bench_packaged.py"
        f" --runs {args.runs}` on {where}; {versions()}. One-minute load average "
        f"{load_before} before the launches and {load_after} after.",
        "",
        "| build | size | launch to window: first | median | min | max | CPU time (median) "
        "| budget |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    folder_size = f"{size_mb:.1f} MB ({folder_bytes / 2**20:.1f} MiB, {folder_files} files)"
    for kind, r in results.items():
        size = folder_size if kind == "one folder" else f"{file_bytes / 1e6:.1f} MB"
        budget = budgets[kind]
        verdict = "(no budget)"
        if budget is not None:
            verdict = f"< {budget} s: {'met' if r['median'] < budget else 'MISSED'}"
        cpu = f"{r['cpu']:.2f} s" if r["cpu"] is not None else "n/a"
        lines.append(
            f"| {kind} | {size} | {r['first']:.3f} s | {r['median']:.3f} s | "
            f"{r['min']:.3f} s | {r['max']:.3f} s | {cpu} | {verdict} |"
        )
    lines += [
        "",
        f"Size budget: one folder under {SIZE_BUDGET_MB:.0f} MB: "
        f"{'met' if size_mb < SIZE_BUDGET_MB else 'MISSED'} ({size_mb:.1f} MB).",
    ]
    if build_s:
        lines.append("Build time: " + ", ".join(f"{k} {v:.0f} s" for k, v in build_s.items()) + ".")
    lines.append(
        "Smoke test of the measured builds: "
        + "; ".join(f"{k}: {v.removeprefix('smoke: ')}" for k, v in smokes.items())
        + "."
    )
    print("\n".join(lines))
    missed = size_mb >= SIZE_BUDGET_MB or any(
        budgets[k] is not None and r["median"] >= budgets[k] for k, r in results.items()
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
