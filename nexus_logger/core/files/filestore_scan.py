"""A bounded walk of one instrument folder: the files NexusLIMS would take between two times.

Pure Python (``os.scandir``), so it runs on a Windows instrument PC without GNU ``find``, and
bounded: it stops after :attr:`ScanLimits.max_entries` directory entries or
:attr:`ScanLimits.max_seconds`, and then says the count is a lower bound (``complete`` is
False). A folder of 100,000 files takes well under a second on a local disk
(``bench/bench_filestore.py``); the limits are for a slow share.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nexus_logger.core.files.filestore_rules import FileRules, in_window, ns_since_epoch

_logger = logging.getLogger(__name__)

#: Entries between two looks at the clock (and at ``cancel``).
_CHECK_EVERY = 512


@dataclass(frozen=True)
class ScanLimits:
    """When a scan stops early: after this many directory entries or this many seconds."""

    max_entries: int = 500_000
    max_seconds: float = 10.0


@dataclass(frozen=True)
class FileTally:
    """What a scan found: the files NexusLIMS would take so far, and how sure that is.

    ``complete`` is False when the scan stopped early: ``count`` is then "at least".
    ``unreadable`` counts folders that could not be listed: NexusLIMS's ``find`` fails on
    them (the build run marks the session ERROR).
    """

    count: int = 0
    total_bytes: int = 0
    newest_path: str | None = None  # relative to the instrument folder, "/" separated
    newest_mtime: datetime | None = None  # UTC
    complete: bool = True
    entries: int = 0
    seconds: float = 0.0
    folder_exists: bool = True
    unreadable: int = 0


class _Walk:
    """The state of one scan (a class only so that the loop stays short and flat)."""

    def __init__(
        self,
        rules: FileRules,
        windows: Sequence[tuple[int, int]],
        limits: ScanLimits,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.rules, self.limits, self.cancel = rules, limits, cancel
        # Files are kept when some window may take them (after the earliest START, at or
        # before the latest END) and matched to the windows after the walk (:meth:`tallies`):
        # one walk serves every pending session of a folder, at the cost of one sort.
        self.earliest = min((start for start, _end in windows), default=0)
        self.latest = max((end for _start, end in windows), default=-1)
        self.began = time.monotonic()
        self.entries = self.unreadable = 0
        self.stopped = False
        self.reset()

    def reset(self) -> None:
        """Forget the files kept (the folder's links are searched instead)."""
        #: (modification time in ns, order met, size, path) of each file a window may take.
        self.files: list[tuple[int, int, int, str]] = []

    def over_budget(self) -> bool:
        if self.entries >= self.limits.max_entries:
            return True
        if time.monotonic() - self.began >= self.limits.max_seconds:
            return True
        return bool(self.cancel is not None and self.cancel())

    def walk(self, root: Path, label: str, links: list[Path] | None) -> None:
        """Count the files under ``root``; collect links to folders in ``links`` if given."""
        stack: list[tuple[str, str]] = [(str(root), label)]
        while stack and not self.stopped:
            path, rel = stack.pop()
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        self.entries += 1
                        if self.entries % _CHECK_EVERY == 0 and self.over_budget():
                            self.stopped = True
                            return
                        self._entry(entry, f"{rel}{entry.name}", stack, links)
            except OSError as err:
                self.unreadable += 1
                _logger.info("Cannot list %s: %s", path, err)

    def _entry(
        self,
        entry: os.DirEntry[str],
        rel: str,
        stack: list[tuple[str, str]],
        links: list[Path] | None,
    ) -> None:
        if entry.is_symlink():
            # find -H follows only the folders it is given; a link met below is not a file.
            if links is not None and entry.is_dir():
                links.append(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False):
            stack.append((entry.path, rel + "/"))
        elif entry.is_file(follow_symlinks=False) and self.rules.takes(entry.name):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # renamed or deleted since the listing: not there
                return
            if in_window(info.st_mtime_ns, self.earliest, self.latest):
                self.files.append((info.st_mtime_ns, len(self.files), info.st_size, rel))

    def tallies(self, windows: Sequence[tuple[int, int]], seconds: float) -> list[FileTally]:
        """What each window takes of the files kept, in the order of ``windows``: by
        bisection over the files sorted by time (after START, at or before END, as ``find
        -newermt START -not -newermt END``); the newest is the first met of the newest time."""
        self.files.sort()
        times = [f[0] for f in self.files]
        sizes = list(itertools.accumulate((f[2] for f in self.files), initial=0))
        out = []
        for start, end in windows:
            lo, hi = bisect.bisect_right(times, start), bisect.bisect_right(times, end)
            newest_path, newest = None, None
            if hi > lo:
                first = bisect.bisect_left(times, times[hi - 1], lo, hi)  # met first
                newest_path = self.files[first][3]
                newest = datetime.fromtimestamp(times[hi - 1] / 1e9, UTC)
            out.append(
                FileTally(
                    count=hi - lo,
                    total_bytes=sizes[hi] - sizes[lo],
                    newest_path=newest_path,
                    newest_mtime=newest,
                    complete=not self.stopped,
                    entries=self.entries,
                    seconds=seconds,
                    unreadable=self.unreadable,
                )
            )
        return out


def scan(
    folder: Path,
    start: datetime,
    end: datetime,
    rules: FileRules,
    limits: ScanLimits | None = None,
    cancel: Callable[[], bool] | None = None,
) -> FileTally:
    """The files under ``folder`` NexusLIMS would take for a session from ``start`` to ``end``.

    ``start`` and ``end`` must be aware. A missing folder has no files (as for NexusLIMS);
    the caller decides first whether the data root itself can be reached.
    """
    return scan_windows(folder, [(start, end)], rules, limits, cancel)[0]


def scan_windows(
    folder: Path,
    windows: Sequence[tuple[datetime, datetime]],
    rules: FileRules,
    limits: ScanLimits | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[FileTally]:
    """:func:`scan` for several sessions of one folder in one walk, in the order given.

    Each pending session walked its instrument's folder again: a backlog of sessions beside
    a large folder took hours. A walk stopped early leaves every count "at least".
    """
    limits = limits or ScanLimits()
    bounds = [(ns_since_epoch(start), ns_since_epoch(end)) for start, end in windows]
    state = _Walk(rules, bounds, limits, cancel)
    if not folder.is_dir():
        return [FileTally(folder_exists=False) for _ in windows]
    # An instrument folder that is itself a link is searched as it is: NexusLIMS's look for
    # links (find without -H) meets only the folder link itself, then searches it with -H.
    links: list[Path] | None = None if folder.is_symlink() else []
    state.walk(folder, "", links)
    if links:
        # NexusLIMS then searches only the linked folders (nexusLIMS.utils.files): what was
        # counted beside them does not count. A walk cut short before it reached them says
        # nothing (count 0, not complete: "unknown", never "files found").
        state.reset()
        for link in sorted(links) if not state.stopped else ():
            state.walk(link, link.relative_to(folder).as_posix() + "/", None)
    return state.tallies(bounds, time.monotonic() - state.began)
