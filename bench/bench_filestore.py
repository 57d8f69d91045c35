"""Benchmark of counting a session's files (issue 21) in a folder of 100,000 files.

Builds an instrument folder with ``--files`` files (default 100,000) spread over day folders
and sub-folders, every file with its own modification time over ``--days`` days, the last
hour being "the running session"; a tenth of the names have no NexusLIMS extractor (.txt)
and a tenth are ignored (.mib). Then prints:

1. the core scan (``nexus_logger.core.files.filestore.session_files``), best of ``--repeat``, for
   the "exclusive" and "inclusive" strategies: time, directory entries and files found;
2. with ``--gui``: the window's own watch (``gui/session_files.py``, Qt offscreen) counting
   the same folder on its scan thread while a 10 ms timer runs on the GUI thread: the longest
   time the GUI thread went without processing events.

Not a timed test: the figures go to docs/performance.md with the machine they came from.

    python bench/bench_filestore.py [--files 100000] [--repeat 3] [--gui] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmachine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INSTRUMENT = "BENCH-TEM-001"


def build(root: Path, files: int, days: int, now: datetime) -> datetime:
    """The folder: ``files`` files over ``days`` days up to ``now``; returns the session start."""
    folder = root / INSTRUMENT
    span = timedelta(days=days).total_seconds()
    for i in range(files):
        day = folder / f"day{i % days:03d}" / f"sample{i % 17:02d}"
        if i < days * 17:
            day.mkdir(parents=True, exist_ok=True)
        kind = i % 10
        name = f"f{i:06d}." + ("txt" if kind == 0 else "mib" if kind == 1 else "dm3")
        path = day / name
        path.write_bytes(b"")
        moment = now.timestamp() - span * (1 - i / files)
        os.utime(path, (moment, moment))
    return now - timedelta(hours=1)


def bench_core(root: Path, start: datetime, now: datetime, repeat: int) -> None:
    from nexus_logger.core.files.filestore import session_files
    from nexus_logger.core.files.filestore_rules import FileRules

    for strategy in ("exclusive", "inclusive"):
        best = None
        for _ in range(repeat):
            began = time.perf_counter()
            report = session_files(str(root), FileRules(strategy=strategy), INSTRUMENT, start, now)
            took = time.perf_counter() - began
            best = took if best is None else min(best, took)
        tally = report.tally
        assert tally is not None
        print(
            f"  scan, {strategy:9s}  {best * 1000:8.0f} ms  entries {tally.entries:,}  "
            f"session files {tally.count:,}  complete {tally.complete}"
        )


def bench_gui(root: Path, start: datetime) -> None:
    """The window's watch counting the folder; the longest GUI-thread gap meanwhile."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from nexus_logger.core.db.models import Instrument
    from nexus_logger.core.sessions.lifecycle import OpenSession
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.gui.file_scans import FileScanner
    from nexus_logger.gui.session_files import SessionFilesWatch

    app = QApplication.instance() or QApplication([])
    settings = load_settings(None, {"database": "unused.sqlite", "data_root": str(root)})
    instrument = Instrument(instrument_pid=INSTRUMENT, timezone="UTC", filestore_path=INSTRUMENT)
    session = OpenSession("bench", instrument, "bench", start, start.isoformat())
    scanner = FileScanner()
    watch = SessionFilesWatch(scanner)
    answers: list[float] = []
    clock = QElapsedTimer()
    gaps: list[float] = []
    last = [0.0]

    def tick() -> None:
        now_ms = clock.nsecsElapsed() / 1e6
        gaps.append(now_ms - last[0])
        last[0] = now_ms

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    watch.updated.connect(lambda _report: answers.append(clock.nsecsElapsed() / 1e6))
    clock.start()
    timer.start()
    watch.start(settings, session)
    while not answers:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    watch.stop()
    scanner.shutdown()
    print(f"  window's watch: first count answered after {answers[0]:8.0f} ms")
    print(f"  longest GUI-thread gap meanwhile       {max(gaps):8.1f} ms (timer every 10 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gui", action="store_true", help="also the window's watch (Qt)")
    parser.add_argument("--keep", metavar="DIR", help="build the folder here and keep it")
    args = parser.parse_args()
    print(describe_machine())
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-filestore-"))
    now = datetime.now(UTC)
    began = time.perf_counter()
    start = build(root, args.files, args.days, now)
    print(f"Built {args.files:,} files in {root} in {time.perf_counter() - began:.1f} s")
    try:
        bench_core(root, start, now, args.repeat)
        if args.gui:
            bench_gui(root, start)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
