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
        # The windows by start, and the latest end so far: a file's windows are found by
        # bisection, not by testing each (one walk serves every pending session of a folder).
        self.order = sorted(range(len(windows)), key=lambda i: windows[i][0])
        self.starts = [windows[i][0] for i in self.order]
        self.ends = [windows[i][1] for i in self.order]
        self.reach = list(itertools.accumulate(self.ends, max))
        self.began = time.monotonic()
        self.entries = self.unreadable = 0
        self.stopped = False
        self.reset()

    def reset(self) -> None:
        """Forget what was counted (the folder's links are searched instead)."""
        n = len(self.starts)
        self.count, self.total = [0] * n, [0] * n
        self.newest_ns: list[int] = [-1] * n
        self.newest_path: list[str | None] = [None] * n

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
            mtime = info.st_mtime_ns
            # Windows starting before the file (after START, as find -newermt), latest first,
            # while one of them may still reach it (at or before END).
            k = bisect.bisect_left(self.starts, mtime) - 1
            while k >= 0 and self.reach[k] >= mtime:
                if in_window(mtime, self.starts[k], self.ends[k]):
                    self.count[k] += 1
                    self.total[k] += info.st_size
                    if mtime > self.newest_ns[k]:
                        self.newest_ns[k], self.newest_path[k] = mtime, rel
                k -= 1


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
    seconds = time.monotonic() - state.began
    tallies: list[FileTally] = [FileTally()] * len(windows)
    for k, index in enumerate(state.order):
        newest = None
        if state.newest_path[k] is not None:
            newest = datetime.fromtimestamp(state.newest_ns[k] / 1e9, UTC)
        tallies[index] = FileTally(
            count=state.count[k],
            total_bytes=state.total[k],
            newest_path=state.newest_path[k],
            newest_mtime=newest,
            complete=not state.stopped,
            entries=state.entries,
            seconds=seconds,
            unreadable=state.unreadable,
        )
    return tallies
