"""The files of every session NexusLIMS will build next (TO_BE_BUILT), for staff.

``sessions --files``, ``check`` and the Admin tab show them: a session predicted
``NO_FILES_FOUND`` is one NexusLIMS will skip. The database is read once (the pending
sessions and the instruments' folders); each folder scan is bounded
(:class:`~nexus_logger.core.files.filestore_scan.ScanLimits`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.files.filestore import (
    FileReport,
    Outcome,
    data_root_problem,
    sessions_files,
)
from nexus_logger.core.files.filestore_rules import FileRules
from nexus_logger.core.staff.summaries import SessionSummary, list_sessions

#: How long one command counts the pending sessions' files in all. Each folder's walk is
#: bounded (``ScanLimits``, 10 s); a facility of many instruments on a slow share is not.
TOTAL_SECONDS = 60.0


class CountingBudget:
    """The time one command may spend counting files, shared by all its sessions."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = TOTAL_SECONDS if seconds is None else seconds
        self.ends = time.monotonic() + self.seconds

    def problem(self) -> str:
        """ "" while time is left; else why a session's files are not counted."""
        if time.monotonic() < self.ends:
            return ""
        return (
            f"Not counted: counting files stops after {self.seconds:g} s in all. "
            "'nexus-logger sessions --files --instrument PID' counts one instrument's sessions."
        )


@dataclass(frozen=True)
class PendingFiles:
    """One pending session and the files NexusLIMS would find for it."""

    session: SessionSummary
    report: FileReport
    zone: str | None

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """The session's identifier, instrument and user with the report's values."""
        return {
            "session_identifier": self.session.session_identifier,
            "instrument": self.session.instrument,
            "user": self.session.user,
            **self.report.as_dict(now, self.zone),
        }


def reports_for(
    summaries: Sequence[SessionSummary],
    instruments: dict[str, Any],
    data_root: str,
    rules: FileRules,
    problem: str = "",
    budget: CountingBudget | None = None,
) -> dict[str, tuple[FileReport, str | None]]:
    """The files of each finished session (by identifier, with its instrument's zone): one
    walk of each instrument's folder serves all its sessions.

    Sessions of an instrument not in ``instruments`` or without a readable START and END are
    left out. ``problem``: the data root is known to be unreachable (checked once by the
    caller), so the reports say why and no folder is touched: each look at a dead share can
    block. Once ``budget`` is spent, the folders left are not walked and their reports say so.
    """
    budget = budget or CountingBudget()
    by_folder: dict[str, list[tuple[SessionSummary, Any]]] = {}
    for summary in summaries:
        inst = instruments.get(summary.instrument)
        if inst is not None and summary.start is not None and summary.end is not None:
            by_folder.setdefault(inst.filestore_path, []).append((summary, inst))
    out: dict[str, tuple[FileReport, str | None]] = {}
    for filestore_path, group in by_folder.items():
        why = problem or budget.problem()
        windows = [(s.start, s.end) for s, _inst in group]
        if why:
            reports = [
                FileReport(start, end, data_root, problem=why, delay_days=rules.delay_days)
                for start, end in windows
            ]
        else:
            reports = sessions_files(data_root, rules, filestore_path, windows)
        for (summary, inst), report in zip(group, reports, strict=True):
            out[summary.session_identifier] = (report, inst.timezone)
    return out


def pending_files(
    data_root: str,
    rules: FileRules,
    *,
    instrument: str | None = None,
    engine: EngineLike = None,
    budget: CountingBudget | None = None,
) -> list[PendingFiles]:
    """Every TO_BE_BUILT session (oldest first) with its files; [] when nothing can be counted.

    When the data root cannot be reached the folders are not walked at all: the caller says
    so once (:func:`~nexus_logger.core.files.filestore.data_root_problem`).
    """
    if data_root_problem(data_root):
        return []
    sessions = list_sessions(status=RecordStatus.TO_BE_BUILT, instrument=instrument, engine=engine)
    found = reports_for(sessions, load_instruments(engine), data_root, rules, budget=budget)
    return [
        PendingFiles(s, *found[s.session_identifier])
        for s in sessions
        if s.session_identifier in found
    ]


def files_section(
    data_root: str, rules: FileRules, *, engine: EngineLike = None, now: datetime | None = None
) -> dict[str, Any]:
    """What ``check --format json`` reports about files: the data root, each pending
    session's files and prediction, and how many NexusLIMS will mark NO_FILES_FOUND."""
    now = now or datetime.now(UTC)
    problem = data_root_problem(data_root)
    found = [] if problem else pending_files(data_root, rules, engine=engine)
    return {
        "data_root": data_root or None,
        "checked": not problem,
        "problem": problem or None,
        "no_files_found_count": sum(p.report.outcome() is Outcome.NO_FILES_FOUND for p in found),
        "sessions": [p.as_dict(now) for p in found],
    }
