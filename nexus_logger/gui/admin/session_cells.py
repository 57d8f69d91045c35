"""What each cell of the Admin tab's sessions list says: its text and its tooltip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff.problems import Problem
from nexus_logger.core.staff.summaries import SessionSummary
from nexus_logger.gui.admin.models import format_duration, format_end, format_time


def cell_text(
    s: SessionSummary,
    key: str,
    problems: dict[str, list[Problem]],
    now: Callable[[], datetime],
    *,
    end_with_date: bool = False,
) -> str:
    """The text of column ``key`` (``SessionTableModel.COLUMNS``) for session ``s``; a session
    with problems gets a warning sign before its instrument. An end on its start's day is
    shown as its time, unless ``end_with_date`` (a list sorted by end: the dates make the
    order visible)."""
    if key == "instrument":
        mark = "\u26a0 " if s.session_identifier in problems else ""
        return mark + s.instrument
    if key == "user":
        return _user(s)
    if key == "start":
        return format_time(s.start, s.timezone) or (s.start_text or "")
    if key == "end":
        if s.end_text is None:
            # Only a START waiting for its END is a session in use; any other has lost its END.
            return "open" if _waiting(s) else "no END"
        return format_end(s.start, s.end, s.timezone, with_date=end_with_date) or s.end_text
    if key == "duration":
        if s.is_open and not _waiting(s):
            return ""  # no END, and not running either: no length to give
        text = format_duration(s.duration_seconds(now()))
        return f"{text} (running)" if s.is_open and text else text
    if key == "status":
        return s.status
    if key == "record_generation_events":
        return str(s.record_generation_events)
    if key == "note":
        return (s.note or "").replace("\n", " ")
    if key == "session_identifier":
        return s.session_identifier
    return ""


def _user(s: SessionSummary) -> str:
    """The START's user, and the END's when it differs (NexusLIMS then finds no END)."""
    if s.end_user is not None and s.end_user != s.user and s.end is not None:
        return f"{s.user} / END: {s.end_user}"
    return s.user or ""


def _waiting(s: SessionSummary) -> bool:
    return s.status == RecordStatus.WAITING_FOR_END.value


def cell_tooltip(s: SessionSummary, key: str, problems: dict[str, list[Problem]]) -> str | None:
    """The tooltip of column ``key``: the time as stored, the whole note, the problems."""
    if key == "start":
        return f"Stored: {s.start_text}"
    if key == "end" and s.end_text:
        return f"Stored: {s.end_text}"
    if key == "note" and s.note:
        return s.note
    if key == "user":
        return _user(s) or None  # whole, where the column cuts a long name
    if key == "instrument" and s.session_identifier in problems:
        return "\n".join(p.title for p in problems[s.session_identifier])
    return None
