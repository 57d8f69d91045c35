"""The admin tab's query: its filters and order, and the SQL parts every admin read uses.

A session is anchored on its START row; its newest END, its RECORD_GENERATION count and its
note are looked up through the ``session_identifier`` index, only for the rows a page needs
(folding every row with a GROUP BY reads the whole table, about 0.5 s for 100,000 sessions on
SQLite). Rows without a START (an END alone) are not sessions; the problems panel lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, false, func, not_, null, or_, select

from nexus_logger.core import timestamps
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.staff.session_summary import SessionSummary, instrument_zones, parse_stored
from nexus_logger.core.staff.sql_instant import instant

__all__ = [
    "SORT_KEYS",
    "QueryParts",
    "SessionQuery",
    "needs_joins",
    "start_columns",
    "summary_from_row",
]

_T = session_log

#: Columns the admin list can be sorted by.
SORT_KEYS = (
    "session_identifier",
    "instrument",
    "user",
    "start",
    "end",
    "duration",
    "status",
    "record_generation_events",
    "note",
)


@dataclass(frozen=True)
class SessionQuery:
    """What the admin list shows: filters and order. ``statuses=None`` means every status.

    ``date_from``/``date_to`` are calendar days as the instrument saw them (in its own time
    zone, as the list shows the times: :meth:`QueryParts.started_on_days`). ``text`` is
    searched (case-insensitively) in the session identifier, instrument, START and END users
    and the note; with ``people=False`` only in the identifier and instrument (a viewer who
    may not see names must not find them by searching: core/staff/privacy.py).
    """

    statuses: frozenset[str] | None = None
    instrument: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    text: str | None = None
    sort: str = "start"
    descending: bool = True
    people: bool = True

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise InvalidInput(
                f"{self.sort!r} is not a column to sort by; use one of: {', '.join(SORT_KEYS)}."
            )
        if self.statuses is not None:
            try:
                parsed = frozenset(RecordStatus.parse(s).value for s in self.statuses)
            except ValueError as err:
                raise InvalidInput(str(err)) from None
            object.__setattr__(self, "statuses", parsed)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput(
                f"The date range starts ({self.date_from}) after it ends ({self.date_to}). "
                "Swap the two dates."
            )

    def with_(self, **changes: Any) -> SessionQuery:
        """A copy with some fields changed."""
        return replace(self, **changes)


def _note_table(conn: Connection) -> Table | None:
    """The lifecycle's note table, when some PC has created it (it is made on first use)."""
    return note_table if table_exists(conn, note_table) else None


class QueryParts:
    """The aliased tables and expressions one admin query is built from."""

    def __init__(self, conn: Connection, *, now: datetime | None, prefix: str = "") -> None:
        self.conn = conn
        self.s = _T.alias(prefix + "s")
        self.e = _T.alias(prefix + "e")
        x = _T.alias(prefix + "x")
        g = _T.alias(prefix + "g")
        s = self.s
        newest_end = (
            select(func.max(x.c.id_session_log))
            .where(
                x.c.session_identifier == s.c.session_identifier,
                x.c.event_type == EventType.END.value,
            )
            .scalar_subquery()
        )
        self.end_on = self.e.c.id_session_log == newest_end
        self.gen = (
            select(func.count())
            .where(
                g.c.session_identifier == s.c.session_identifier,
                g.c.event_type == EventType.RECORD_GENERATION.value,
            )
            .scalar_subquery()
        )
        self.note_table = _note_table(conn)
        self.n = self.note_table.alias(prefix + "n") if self.note_table is not None else None
        col = self.n.c.note if self.n is not None else None
        self.has_note = col is not None
        self.note = col if col is not None else null()
        stamp = (now or datetime.now(UTC)).timestamp()
        start_at = instant(s.c.timestamp)
        end_at = instant(self.e.c.timestamp)
        self.sort_exprs: dict[str, Any] = {
            "session_identifier": s.c.session_identifier,
            "instrument": s.c.instrument,
            "user": s.c.user,
            "start": start_at,
            "end": func.coalesce(end_at, stamp),
            "duration": func.coalesce(end_at, stamp) - start_at,
            "status": s.c.record_status,
            "record_generation_events": self.gen,
            "note": self.note,
        }

    def from_(self, *, with_end: bool = True, with_note: bool = True) -> Any:
        src = self.s
        if with_end:
            src = src.outerjoin(self.e, self.end_on)
        if with_note and self.n is not None:
            src = src.outerjoin(self.n, self.n.c.session_identifier == self.s.c.session_identifier)
        return src

    def where(
        self, query: SessionQuery, *, statuses: bool = True, zones: dict[str, str] | None = None
    ) -> list[Any]:
        """The conditions of ``query``; ``zones`` (each instrument's, read here when a day
        filter needs them and the caller has not read them already)."""
        s = self.s
        cond: list[Any] = [s.c.event_type == EventType.START.value]
        if statuses and query.statuses is not None:
            cond.append(s.c.record_status.in_(sorted(query.statuses)))
        if query.instrument:
            cond.append(s.c.instrument == query.instrument)
        if query.date_from or query.date_to:
            if zones is None:
                zones = instrument_zones(self.conn.engine)
            cond.append(self.started_on_days(query.date_from, query.date_to, zones))
        if query.text and query.text.strip():
            needle = query.text.strip()
            fields = [s.c.session_identifier, s.c.instrument]
            if query.people:
                fields += [s.c.user, self.e.c.user]
            if self.has_note and query.people:
                fields.append(self.note)
            cond.append(or_(*(f.icontains(needle, autoescape=True) for f in fields)))
        return cond

    def started_on_days(
        self, first: date | None, last: date | None, zones: dict[str, str]
    ) -> ColumnElement[bool]:
        """The START falls on the days ``first``..``last`` of its instrument's calendar.

        nexus-logger and NexusLIMS write times in the instrument's zone, so the date the text
        begins with is usually that day; a time written with another offset (another writer,
        a zone changed since) is placed by its instant, which SQL can only compare with the
        bounds of each instrument's days, given here. The text's own date is kept for a time
        without an offset (1.x: the instrument's wall clock), one SQL cannot read (PostgreSQL
        refuses forms Python reads, such as seven digits of a second) and one of an instrument
        not in the table. The text's date first narrows the rows cheaply (no offset moves a
        date by more than two days). SQLite's instant is a float some microseconds off: the
        bounds allow a tenth of a millisecond, so that a START at midnight stays on its day.
        """
        ts = self.s.c.timestamp
        day = func.substr(ts, 1, 10)
        on_days: list[ColumnElement[bool]] = []
        near: list[ColumnElement[bool]] = []
        if first:
            on_days.append(day >= first.isoformat())
            if (lowest := _moved(first, -2)) is not None:
                near.append(day >= lowest.isoformat())
        if last:
            on_days.append(day <= last.isoformat())
            if (highest := _moved(last, 2)) is not None:
                near.append(day <= highest.isoformat())
        after_date = func.substr(ts, 11)  # the date's own hyphens are no offset
        with_offset = or_(ts.endswith("Z"), after_date.contains("+"), after_date.contains("-"))
        at = instant(ts)
        in_zone = []
        for pid, tz in sorted(zones.items()):
            bounds = [self.s.c.instrument == pid]
            if first:
                bounds.append(at >= _midnight(first, tz) - _SLACK)
            if last and (after := _moved(last, 1)) is not None:
                bounds.append(at < _midnight(after, tz) - _SLACK)
            in_zone.append(and_(*bounds))
        return and_(
            *near,
            or_(
                and_(not_(with_offset), *on_days),
                and_(with_offset, at.is_(None), *on_days),
                and_(with_offset, or_(*in_zone)) if in_zone else false(),
                and_(self.s.c.instrument.not_in(sorted(zones)), *on_days),
            ),
        )


#: Seconds the day bounds allow for SQLite's floating-point instant (off by some 10 us):
#: under the millisecond times are written with, so that 23:59:59.999 stays on its day.
_SLACK = 0.0001


def _moved(day: date, days: int) -> date | None:
    """``day`` moved by ``days``; None past either end of the calendar (year 1 or 9999),
    where the bound it would give leaves nothing out."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def _midnight(day: date, tz: str) -> float:
    """The instant (epoch seconds) a day begins on an instrument's clock."""
    return datetime.combine(day, time(), timestamps.zone(tz)).timestamp()


def needs_joins(query: SessionQuery) -> bool:
    return bool(query.text and query.text.strip())


def start_columns(p: QueryParts) -> list[Any]:
    """The START row's columns every admin read selects first, in :func:`summary_from_row`'s order."""
    s = p.s
    return [
        s.c.id_session_log,
        s.c.session_identifier,
        s.c.instrument,
        s.c.user,
        s.c.timestamp,
        s.c.record_status,
    ]


def summary_from_row(
    row: Sequence[Any], zones: dict[str, str], *, note: str | None = None
) -> SessionSummary:
    """A summary from :func:`start_columns` then END time, END user and RECORD_GENERATION count."""
    sid_row, ident, pid, user, start_ts, status, end_ts, end_user, gen = row[:9]
    tz = zones.get(pid)
    return SessionSummary(
        session_identifier=ident,
        instrument=pid,
        user=user,
        start=parse_stored(start_ts, tz),
        end=parse_stored(end_ts, tz),
        status=status,
        record_generation_events=int(gen or 0),
        start_text=start_ts,
        end_text=end_ts,
        end_user=end_user,
        note=note,
        start_id=sid_row,
        timezone=tz,
    )
