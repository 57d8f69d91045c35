"""One row per session (START, END and RECORD_GENERATION rows folded together).

Used by ``nexus-logger sessions`` and the admin tab. The folding happens in SQL (one GROUP BY
over ``session_log``) so it stays fast on large databases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from nexus_logger.core import timestamps
from nexus_logger.core.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.models import SessionLogEntry
from nexus_logger.core.schema import load_instruments, require_usable

_T = SessionLogEntry.__table__


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
        data["start"] = self.start.isoformat() if self.start else None
        data["end"] = self.end.isoformat() if self.end else None
        del data["start_text"], data["end_text"], data["end_user"]
        return data


def _summary_query():
    ev = _T.c.event_type
    start_only = ev == EventType.START.value
    end_only = ev == EventType.END.value
    return select(
        _T.c.session_identifier,
        func.coalesce(
            func.max(case((start_only, _T.c.instrument))), func.max(_T.c.instrument)
        ).label("instrument"),
        func.max(case((start_only, _T.c.user))).label("user"),
        func.max(case((end_only, _T.c.user))).label("end_user"),
        func.min(case((start_only, _T.c.timestamp))).label("start"),
        func.max(case((end_only, _T.c.timestamp))).label("end"),
        func.coalesce(
            func.max(case((start_only, _T.c.record_status))),
            func.max(_T.c.record_status),
        ).label("status"),
        func.sum(case((ev == EventType.RECORD_GENERATION.value, 1), else_=0)).label("gen"),
        func.min(_T.c.id_session_log).label("first_id"),
    ).group_by(_T.c.session_identifier)


def list_sessions(
    *,
    status: RecordStatus | str | None = None,
    instrument: str | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """All sessions, oldest first, optionally only those with ``status`` / on ``instrument``."""
    eng = get_engine(engine)
    require_usable(eng)
    zones = {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
    stmt = _summary_query()
    if status is not None:
        stmt = stmt.having(
            func.coalesce(
                func.max(case((_T.c.event_type == EventType.START.value, _T.c.record_status))),
                func.max(_T.c.record_status),
            )
            == RecordStatus.parse(status).value
        )
    if instrument:
        stmt = stmt.where(_T.c.instrument == instrument)
    stmt = stmt.order_by("first_id")
    out: list[SessionSummary] = []
    with read_connection(eng) as conn:
        for row in conn.execute(stmt).mappings():
            tz = zones.get(row["instrument"])
            out.append(
                SessionSummary(
                    session_identifier=row["session_identifier"],
                    instrument=row["instrument"],
                    user=row["user"],
                    start=_maybe_parse(row["start"], tz),
                    end=_maybe_parse(row["end"], tz),
                    status=row["status"],
                    record_generation_events=int(row["gen"] or 0),
                    start_text=row["start"],
                    end_text=row["end"],
                    end_user=row["end_user"],
                )
            )
    return out


def _maybe_parse(text: str | None, tz: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return timestamps.parse(text, tz)
    except timestamps.TimestampError:
        return None
