"""The staff's picture of a session (:class:`SessionSummary`) and of one of its rows.

Shared by the session list, the admin tab's pages, the timeline and the CSV export; times are
parsed in the instrument's own zone, and a time that cannot be read becomes ``None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from nexus_logger.core import timestamps
from nexus_logger.core.db.schema import load_instruments

__all__ = ["SessionEvent", "SessionSummary", "instrument_zones", "parse_stored"]


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session as staff think of it: who, where, from when to when, and its status."""

    session_identifier: str
    instrument: str
    user: str | None
    start: datetime | None
    end: datetime | None
    status: str
    record_generation_events: int
    start_text: str | None
    end_text: str | None
    end_user: str | None = None
    note: str | None = None
    start_id: int | None = None  # id_session_log of the START row (a stable key for the GUI)
    timezone: str | None = None  # the instrument's zone (None for an unknown instrument)

    @property
    def is_open(self) -> bool:
        """True while the session has a START and no END."""
        return self.start is not None and self.end is None

    def duration_seconds(self, now: datetime | None = None) -> float | None:
        """Length of the session; for an open one, up to ``now``."""
        if self.start is None:
            return None
        stop = self.end or now
        if stop is None:
            return None
        return (stop - self.start).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON and CSV (times as stored ISO text)."""
        data = asdict(self)
        # As stored: a time stored without offset (1.x) must not be shown with one it lacks.
        data["start"] = self.start_text or (self.start.isoformat() if self.start else None)
        data["end"] = self.end_text or (self.end.isoformat() if self.end else None)
        for key in ("start_text", "end_text", "end_user", "note", "start_id", "timezone"):
            del data[key]
        return data


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One ``session_log`` row of a session, as the back-end wrote it."""

    id_session_log: int
    session_identifier: str
    instrument: str
    event_type: str
    record_status: str
    user: str | None
    timestamp_text: str
    timestamp: datetime | None  # aware, in the instrument's zone; None when unparsable
    naive: bool  # stored without a UTC offset


#: A stored timestamp read in zone ``tz``; ``None`` when absent or unreadable.
parse_stored = timestamps.parse_or_none


def instrument_zones(eng: Engine) -> dict[str, str]:
    """Each known instrument's time zone, by PID (stored times are read in it)."""
    return {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
