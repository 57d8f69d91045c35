"""The files of every session NexusLIMS will build next (TO_BE_BUILT), for staff.

``sessions --files``, ``check`` and the Admin tab show them: a session predicted
``NO_FILES_FOUND`` is one NexusLIMS will skip. The database is read once (the pending
sessions and the instruments' folders); each folder scan is bounded
(:class:`~nexus_logger.core.files.filestore_scan.ScanLimits`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.files.filestore import FileReport, Outcome, data_root_problem, session_files
from nexus_logger.core.files.filestore_rules import FileRules
from nexus_logger.core.staff.summaries import SessionSummary, list_sessions

#: How long one command counts the pending sessions' files in all. Each session's scan is
#: bounded (``ScanLimits``, 10 s), but each walks its instrument's folder again: a backlog of
#: thousands of sessions beside a large folder made ``check`` run for hours.
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


def report_for(
    summary: SessionSummary,
    filestore_path: str,
    data_root: str,
    rules: FileRules,
    problem: str = "",
) -> FileReport | None:
    """The files of one finished session (None when it lacks a readable START or END).

    ``problem``: the data root is known to be unreachable (checked once by the caller), so
    the report says why and no folder is touched: each look at a dead share can block.
    """
    if summary.start is None or summary.end is None:
        return None
    if problem:
        return FileReport(
            summary.start, summary.end, data_root, problem=problem, delay_days=rules.delay_days
        )
    return session_files(data_root, rules, filestore_path, summary.start, summary.end)


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
    instruments = load_instruments(engine)
    budget = budget or CountingBudget()
    out = []
    for summary in sessions:
        inst = instruments.get(summary.instrument)
        if inst is None:
            continue
        report = report_for(summary, inst.filestore_path, data_root, rules, budget.problem())
        if report is not None:
            out.append(PendingFiles(summary, report, inst.timezone))
    return out


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
