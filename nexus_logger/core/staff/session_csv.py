"""The sessions as CSV: the Admin tab's export, and the rows of ``sessions --format csv``."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.staff.session_pages import query_sessions
from nexus_logger.core.staff.session_query import SessionQuery
from nexus_logger.core.staff.session_summary import SessionSummary

__all__ = ["CSV_COLUMNS", "csv_row", "export_csv", "write_csv"]

#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "session_identifier",
    "instrument",
    "user",
    "start",
    "end",
    "duration_seconds",
    "status",
    "record_generation_events",
    "note",
)


#: First characters that make a spreadsheet read a cell as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, with an apostrophe before it.

    Anyone can type a note or a user name such as ``=HYPERLINK(...)``; the file is made for
    Excel (its byte-order mark), which would run it when staff open the export. The apostrophe
    is what Excel itself shows for text typed that way; scripts that need the exact text read
    ``--format json``.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(summary: SessionSummary, now: datetime | None = None) -> dict[str, Any]:
    """One CSV line: times as stored, the duration in whole seconds (live for open ones);
    text that a spreadsheet would take for a formula is kept as text (:func:`_as_text`)."""
    seconds = summary.duration_seconds(now or datetime.now(UTC))
    row = {
        "session_identifier": summary.session_identifier,
        "instrument": summary.instrument,
        "user": summary.user,
        "start": summary.start_text,
        "end": summary.end_text,
        "duration_seconds": None if seconds is None else int(seconds),
        "status": summary.status,
        "record_generation_events": summary.record_generation_events,
        "note": summary.note,
    }
    return {key: _as_text(value) for key, value in row.items()}


def write_csv(
    summaries: Iterable[SessionSummary],
    path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
) -> int:
    """Write sessions to a CSV file (UTF-8 with BOM so that Excel shows accents); returns rows.

    Written to a temporary file first and moved into place, so a failed export never leaves
    half a file where the old one was.
    """
    target = Path(path)
    now = now or datetime.now(UTC)
    tmp = target.with_name(target.name + ".part")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS), lineterminator="\r\n")
            writer.writeheader()
            for summary in summaries:
                writer.writerow(csv_row(summary, now))
                count += 1
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise NexusLoggerError(
            f"The CSV file {target} could not be written ({err.strerror or err}). "
            "Choose another folder or close the program that has the file open."
        ) from None
    return count


def export_csv(
    query: SessionQuery | None,
    path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    page: int = 20_000,
    each: Callable[[SessionSummary], SessionSummary] | None = None,
    engine: EngineLike = None,
) -> int:
    """Write every session ``query`` selects, in its order, to ``path``; returns the count.

    ``each`` changes every session before it is written (the Admin tab hides names with it).

    Read in pages of ``page`` sessions, each its own short read transaction, so that a long
    export never keeps the instrument PCs from writing (an SQLite reader blocks commits).
    """
    now = now or datetime.now(UTC)

    def pages() -> Iterator[SessionSummary]:
        offset = 0
        while True:
            chunk = query_sessions(query, offset=offset, limit=page, now=now, engine=engine)
            yield from (map(each, chunk) if each else chunk)
            if len(chunk) < page:
                return
            offset += page

    return write_csv(pages(), path, now=now)
