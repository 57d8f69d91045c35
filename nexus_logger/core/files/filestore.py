"""The files NexusLIMS would find for a session, and what it will then do with the session.

Used by the window (the running session's files, the warning before an empty record), the
Admin tab (each pending session) and ``sessions --files`` / ``check``. The data root is the
folder NexusLIMS's ``NX_INSTRUMENT_DATA_PATH`` points at, as this PC sees it (the setting
``data_root``); when it is not set or cannot be reached nothing is predicted, and the report
says why in one sentence. The rules are in :mod:`~nexus_logger.core.files.filestore_rules`, the
bounded walk in :mod:`~nexus_logger.core.files.filestore_scan`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nexus_logger.core import timestamps
from nexus_logger.core.files.filestore_rules import FileRules, session_folder
from nexus_logger.core.files.filestore_scan import FileTally, ScanLimits, scan_windows

_logger = logging.getLogger(__name__)

#: The sentence of the warning before an empty record (the window and the CLI say the same).
NO_FILES_SENTENCE = (
    "NexusLIMS will find no files for this session (it will be marked NO_FILES_FOUND)"
)


class Outcome(enum.Enum):
    """What NexusLIMS's build run will do with the session, as far as its files decide."""

    FILES_FOUND = "FILES_FOUND"  # it has files to build a record from
    NO_FILES_FOUND = "NO_FILES_FOUND"
    UNKNOWN = "UNKNOWN"  # data root not reachable, scan stopped early, folders unreadable


@dataclass(frozen=True)
class FileReport:
    """One session's files as NexusLIMS would find them (or why they were not counted)."""

    start: datetime
    end: datetime
    data_root: str
    folder: Path | None = None
    tally: FileTally | None = None
    problem: str = ""  # why nothing was counted (data root not set, not reachable)
    delay_days: float = 2.0

    @property
    def counted(self) -> bool:
        """True when the folder was scanned (``tally`` is set)."""
        return self.tally is not None

    @property
    def retry_until(self) -> datetime:
        """Until when NexusLIMS looks again for files of a session without any."""
        return self.end + timedelta(days=self.delay_days)

    def outcome(self) -> Outcome:
        """The predicted outcome (see :class:`Outcome`)."""
        tally = self.tally
        if tally is None:
            return Outcome.UNKNOWN
        if tally.count > 0:
            return Outcome.FILES_FOUND
        if not tally.complete or tally.unreadable:
            return Outcome.UNKNOWN
        return Outcome.NO_FILES_FOUND

    def files_text(self, zone: str | None = None, *, names: bool = True) -> str:
        """``12 files, 3.4 MB; newest: a/b.dm3 at 2025-01-06 10:42 EST`` (or why not);
        ``names=False`` leaves out the newest file's path (it may name a person)."""
        if self.tally is None:
            return self.problem
        tally = self.tally
        count = f"{tally.count:,}" if tally.complete else f"at least {tally.count:,}"
        text = f"{count} file{'' if tally.count == 1 else 's'}"
        if tally.count:
            text += f", {size_text(tally.total_bytes)}"
        if names and tally.newest_path and tally.newest_mtime:
            text += f"; newest: {tally.newest_path} at {moment_text(tally.newest_mtime, zone)}"
        if not tally.folder_exists:
            text += f" (the folder {self.folder} does not exist)"
        if not tally.complete:
            text += f" (counting stopped after {tally.entries:,} entries)"
        if tally.unreadable:
            text += f"; {tally.unreadable} folder(s) could not be read from this PC"
        return text

    def outcome_text(self, now: datetime | None = None, zone: str | None = None) -> str:
        """The prediction in one sentence for people."""
        outcome = self.outcome()
        if outcome is Outcome.FILES_FOUND:
            return "NexusLIMS will find files and build a record."
        if outcome is Outcome.UNKNOWN:
            return self.problem or "Cannot predict: not every file could be counted from this PC."
        now = now or datetime.now(UTC)
        if now - self.end > timedelta(days=self.delay_days):
            return NO_FILES_SENTENCE + "."
        return (
            f"{NO_FILES_SENTENCE} unless files appear before "
            f"{moment_text(self.retry_until, zone)} (NX_FILE_DELAY_DAYS)."
        )

    def as_dict(self, now: datetime | None = None, zone: str | None = None) -> dict[str, Any]:
        """Plain values for JSON output."""
        tally = self.tally
        return {
            "data_root": self.data_root or None,
            "folder": str(self.folder) if self.folder else None,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "counted": self.counted,
            "complete": tally.complete if tally else None,
            "files": tally.count if tally else None,
            "total_bytes": tally.total_bytes if tally else None,
            "newest_file": tally.newest_path if tally else None,
            "newest_mtime": tally.newest_mtime.isoformat()
            if tally and tally.newest_mtime
            else None,
            "unreadable_folders": tally.unreadable if tally else None,
            "predicted": self.outcome().value,
            "prediction": self.outcome_text(now, zone),
            "problem": self.problem or None,
        }


def size_text(size: int) -> str:
    """``512 bytes``, ``3.4 MB``, ``1.2 GB`` (powers of 1000, as Windows Explorer does not)."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def moment_text(moment: datetime, zone: str | None) -> str:
    """``2025-01-06 10:42:07 EST``: on the instrument's clock when its zone is known."""
    local = moment.astimezone(timestamps.zone(zone)) if zone else moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or local.strftime("%z"))


def data_root_problem(data_root: str) -> str:
    """Why files cannot be counted from this PC, or "" when the data root is a folder."""
    if not data_root.strip():
        return (
            "Files are not counted: no data root is set (the setting 'data_root', "
            "NexusLIMS's NX_INSTRUMENT_DATA_PATH)."
        )
    try:
        if Path(data_root).is_dir():
            return ""
        reason = "it does not exist or is not a folder"
    except OSError as err:  # a share that is down can raise instead of answering False
        reason = err.strerror or str(err)
    return f"Files are not counted: the data folder {data_root} cannot be reached ({reason})."


def session_files(
    data_root: str,
    rules: FileRules,
    filestore_path: str,
    start: datetime,
    end: datetime | None = None,
    *,
    limits: ScanLimits | None = None,
    cancel: Callable[[], bool] | None = None,
) -> FileReport:
    """The files of a session from ``start`` to ``end`` (default: now, for a running one)."""
    end = end or datetime.now(UTC)
    problem = data_root_problem(data_root)
    if problem:
        return FileReport(start, end, data_root, problem=problem, delay_days=rules.delay_days)
    (report,) = sessions_files(
        data_root, rules, filestore_path, [(start, end)], limits=limits, cancel=cancel
    )
    assert report.tally is not None
    _logger.debug(
        "Files of %s from %s to %s: %d (complete %s) in %.2f s",
        report.folder,
        start.isoformat(),
        end.isoformat(),
        report.tally.count,
        report.tally.complete,
        report.tally.seconds,
    )
    return report


def sessions_files(
    data_root: str,
    rules: FileRules,
    filestore_path: str,
    windows: Sequence[tuple[datetime, datetime]],
    *,
    limits: ScanLimits | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[FileReport]:
    """The files of several sessions of one instrument, in one walk (the data root must be
    reachable: the caller checks it once, as :func:`session_files` does)."""
    folder = session_folder(data_root, filestore_path)
    tallies = scan_windows(folder, windows, rules, limits, cancel)
    return [
        FileReport(start, end, data_root, folder, tally, delay_days=rules.delay_days)
        for (start, end), tally in zip(windows, tallies, strict=True)
    ]


def report_for_settings(
    settings: Any,
    filestore_path: str,
    start: datetime,
    end: datetime | None = None,
    **kwargs: Any,
) -> FileReport:
    """:func:`session_files` with the data root and rules of nexus-logger's settings."""
    return session_files(
        str(settings.data_root or ""),
        FileRules.from_settings(settings),
        filestore_path,
        start,
        end,
        **kwargs,
    )
