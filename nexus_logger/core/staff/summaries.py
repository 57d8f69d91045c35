"""One row per session (START, END and RECORD_GENERATION rows folded together).

Used by ``nexus-logger sessions`` and the admin tab. The folding happens in SQL so it stays
fast on large databases: :func:`list_sessions` folds every row with one GROUP BY;
:func:`query_sessions` (the admin tab) pages through sessions anchored on their START row
with filters, sorting and counts per status.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Table,
    and_,
    case,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.models import SessionLogEntry
from nexus_logger.core.db.schema import load_instruments, require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import InvalidInput, NexusLoggerError

_logger = logging.getLogger(__name__)

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
        data["start"] = self.start.isoformat() if self.start else None
        data["end"] = self.end.isoformat() if self.end else None
        for key in ("start_text", "end_text", "end_user", "note", "start_id", "timezone"):
            del data[key]
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


# --------------------------------------------------------------------------------------------
# The admin tab's view: filtered, sorted, paged sessions anchored on their START row.
#
# ``list_sessions`` above folds every row with a GROUP BY, which reads the whole table (about
# 0.5 s for 100,000 sessions on SQLite). The tab needs its first rows at once, so it anchors a
# session on its START row and looks the newest END and the RECORD_GENERATION count up through
# the ``session_identifier`` index, only for the rows of the page asked for. Rows without a
# START (an END alone) are not sessions; the problems panel lists them.
# --------------------------------------------------------------------------------------------

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


class instant(FunctionElement):
    """SQL for "the instant a stored ISO-8601 text names", as seconds since the epoch.

    Sorting and comparing by the text would order ``10:00-05:00`` before ``12:00+01:00`` (it
    is later), so both backends convert: SQLite's ``julianday`` understands UTC offsets (and
    gives NULL for garbage); PostgreSQL casts to ``timestamptz`` behind a shape check so that a
    malformed value gives NULL instead of failing the whole query. Naive text is read as UTC
    (SQLite) or in the server's time zone (PostgreSQL); the problems panel flags such rows.
    """

    type = Float()
    inherit_cache = True
    name = "nexus_instant"


@compiles(instant, "sqlite")
def _instant_sqlite(element: instant, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"((julianday({arg}) - 2440587.5) * 86400.0)"


_ISO_SHAPE = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?$"
)


@compiles(instant, "postgresql")
def _instant_postgres(element: instant, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    shape = _ISO_SHAPE.replace("%", "%%")
    return (
        f"(CASE WHEN ({arg}) ~ '{shape}' THEN EXTRACT(EPOCH FROM CAST({arg} AS TIMESTAMPTZ)) END)"
    )


@dataclass(frozen=True)
class SessionQuery:
    """What the admin list shows: filters and order. ``statuses=None`` means every status.

    ``date_from``/``date_to`` are calendar days as the instrument saw them: they are compared
    with the date written at the start of the stored START timestamp, which is in the
    instrument's own time zone. ``text`` is searched (case-insensitively) in the session
    identifier, instrument, START and END users and the note; with ``people=False`` only in
    the identifier and instrument (a viewer who may not see names must not find them by
    searching: core/staff/privacy.py).
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


def _note_table(conn: Connection) -> Table | None:
    """The lifecycle's note table, when some PC has created it (it is made on first use)."""
    return note_table if table_exists(conn, note_table) else None


class _Parts:
    """The aliased tables and expressions one admin query is built from."""

    def __init__(self, conn: Connection, *, now: datetime | None, prefix: str = "") -> None:
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

    def where(self, query: SessionQuery, *, statuses: bool = True) -> list[Any]:
        s = self.s
        cond: list[Any] = [s.c.event_type == EventType.START.value]
        if statuses and query.statuses is not None:
            cond.append(s.c.record_status.in_(sorted(query.statuses)))
        if query.instrument:
            cond.append(s.c.instrument == query.instrument)
        day = func.substr(s.c.timestamp, 1, 10)
        if query.date_from:
            cond.append(day >= query.date_from.isoformat())
        if query.date_to:
            cond.append(day <= query.date_to.isoformat())
        if query.text and query.text.strip():
            needle = query.text.strip()
            fields = [s.c.session_identifier, s.c.instrument]
            if query.people:
                fields += [s.c.user, self.e.c.user]
            if self.has_note and query.people:
                fields.append(self.note)
            cond.append(or_(*(f.icontains(needle, autoescape=True) for f in fields)))
        return cond


def _needs_joins(query: SessionQuery) -> bool:
    return bool(query.text and query.text.strip())


def query_sessions(
    query: SessionQuery | None = None,
    *,
    offset: int = 0,
    limit: int | None = 200,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """One page of sessions matching ``query``, in its order (ties broken by START row id).

    Cheap for the first pages of a large database: only the rows returned are joined with
    their END row, RECORD_GENERATION count and note. ``now`` fixes the end used to sort open
    sessions by end or duration (they are still running).
    """
    query = query or SessionQuery()
    eng = get_engine(engine)
    require_usable(eng)
    zones = {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
    needs_end = query.sort in ("end", "duration") or _needs_joins(query)
    needs_note = query.sort == "note" or _needs_joins(query)
    with read_connection(eng) as conn:
        # The page is chosen first, joining only what the order and filters need (sorting
        # 100,000 STARTs by their own columns is cheap; looking up every END first is not);
        # then only the rows of the page get their END, RECORD_GENERATION count and note.
        pi = _Parts(conn, now=now, prefix="p")
        key = pi.sort_exprs[query.sort].label("sort_key")
        inner = (
            select(pi.s.c.id_session_log.label("sid"), key)
            .select_from(pi.from_(with_end=needs_end, with_note=needs_note))
            .where(*pi.where(query))
        )
        if query.descending:
            inner = inner.order_by(key.desc().nulls_last(), pi.s.c.id_session_log.desc())
        else:
            inner = inner.order_by(key.asc().nulls_last(), pi.s.c.id_session_log.asc())
        inner = inner.offset(max(0, int(offset)))
        if limit is not None:
            inner = inner.limit(max(0, int(limit)))
        page = inner.subquery("page")
        p = _Parts(conn, now=now)
        s, e = p.s, p.e
        if query.descending:
            order = [page.c.sort_key.desc().nulls_last(), page.c.sid.desc()]
        else:
            order = [page.c.sort_key.asc().nulls_last(), page.c.sid.asc()]
        stmt = (
            select(
                s.c.id_session_log,
                s.c.session_identifier,
                s.c.instrument,
                s.c.user,
                s.c.timestamp,
                s.c.record_status,
                e.c.timestamp.label("end_ts"),
                e.c.user.label("end_user"),
                p.gen.label("gen"),
                p.note.label("note"),
            )
            .select_from(page.join(s, s.c.id_session_log == page.c.sid))
            .outerjoin(e, p.end_on)
            .order_by(*order)
        )
        if p.n is not None:
            stmt = stmt.outerjoin(p.n, p.n.c.session_identifier == s.c.session_identifier)
        rows = conn.execute(stmt).all()
    out: list[SessionSummary] = []
    for sid_row, ident, pid, user, start_ts, status, end_ts, end_user, gen, note in rows:
        tz = zones.get(pid)
        out.append(
            SessionSummary(
                session_identifier=ident,
                instrument=pid,
                user=user,
                start=_maybe_parse(start_ts, tz),
                end=_maybe_parse(end_ts, tz),
                status=status,
                record_generation_events=int(gen or 0),
                start_text=start_ts,
                end_text=end_ts,
                end_user=end_user,
                note=note,
                start_id=sid_row,
                timezone=tz,
            )
        )
    return out


def count_by_status(
    query: SessionQuery | None = None, *, engine: EngineLike = None
) -> dict[str, int]:
    """Sessions per status under ``query``'s other filters (its statuses are ignored).

    Every one of the eight statuses is present (0 when none); a status outside the eight
    (a hand-edited row) is counted under its own text.
    """
    query = query or SessionQuery()
    eng = get_engine(engine)
    require_usable(eng)
    with read_connection(eng) as conn:
        p = _Parts(conn, now=None)
        joins = _needs_joins(query)
        stmt = (
            select(p.s.c.record_status, func.count())
            .select_from(p.from_(with_end=joins, with_note=joins))
            .where(*p.where(query, statuses=False))
            .group_by(p.s.c.record_status)
        )
        rows = conn.execute(stmt).all()
    counts = {status.value: 0 for status in RecordStatus}
    for status, n in rows:
        counts[str(status)] = counts.get(str(status), 0) + int(n)
    return counts


def matching_count(counts: dict[str, int], statuses: frozenset[str] | None) -> int:
    """How many sessions a query selects, from :func:`count_by_status` output."""
    if statuses is None:
        return sum(counts.values())
    return sum(n for status, n in counts.items() if status in statuses)


def session_events(session_identifier: str, *, engine: EngineLike = None) -> list[SessionEvent]:
    """Every row of one session (START, END, RECORD_GENERATION...), in the order written."""
    eng = get_engine(engine)
    require_usable(eng)
    zones = {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
    stmt = (
        select(
            _T.c.id_session_log,
            _T.c.session_identifier,
            _T.c.instrument,
            _T.c.event_type,
            _T.c.record_status,
            _T.c.user,
            _T.c.timestamp,
        )
        .where(_T.c.session_identifier == session_identifier)
        .order_by(_T.c.id_session_log)
    )
    with read_connection(eng) as conn:
        rows = conn.execute(stmt).all()
    out = []
    for row_id, ident, pid, event, status, user, stamp in rows:
        text = "" if stamp is None else str(stamp)
        out.append(
            SessionEvent(
                id_session_log=row_id,
                session_identifier=ident,
                instrument=pid,
                event_type=event,
                record_status=status,
                user=user,
                timestamp_text=text,
                timestamp=_maybe_parse(text, zones.get(pid)),
                naive=timestamps.is_naive(text),
            )
        )
    return out


#: Sessions that started this long before a timeline window are not looked for (unless open).
TIMELINE_LOOKBACK = timedelta(days=40)


def timeline_sessions(
    start: datetime,
    end: datetime,
    *,
    instrument: str | None = None,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """Sessions that overlap ``[start, end)`` (aware datetimes), for the timeline picture.

    Open sessions count as running until ``now``. To stay fast without an index on
    timestamps, only STARTs written up to :data:`TIMELINE_LOOKBACK` before the window (and
    every START still waiting for its END) are considered.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("The timeline window needs time-zone-aware start and end times.")
    now = now or datetime.now(UTC)
    eng = get_engine(engine)
    require_usable(eng)
    zones = {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
    lo = (start - TIMELINE_LOOKBACK - timedelta(days=1)).date().isoformat()
    hi = (end + timedelta(days=1)).date().isoformat()
    with read_connection(eng) as conn:
        p = _Parts(conn, now=now)
        s, e = p.s, p.e
        day = func.substr(s.c.timestamp, 1, 10)
        cond = [
            s.c.event_type == EventType.START.value,
            or_(and_(day >= lo, day <= hi), s.c.record_status == RecordStatus.WAITING_FOR_END),
        ]
        if instrument:
            cond.append(s.c.instrument == instrument)
        stmt = (
            select(
                s.c.id_session_log,
                s.c.session_identifier,
                s.c.instrument,
                s.c.user,
                s.c.timestamp,
                s.c.record_status,
                e.c.timestamp,
                e.c.user,
                p.gen,
            )
            .select_from(p.from_(with_note=False))
            .where(*cond)
            .order_by(s.c.id_session_log)
        )
        rows = conn.execute(stmt).all()
    out = []
    for sid_row, ident, pid, user, start_ts, status, end_ts, end_user, gen in rows:
        tz = zones.get(pid)
        began = _maybe_parse(start_ts, tz)
        ended = _maybe_parse(end_ts, tz)
        if began is None or began >= end or (ended or now) < start:
            continue
        out.append(
            SessionSummary(
                session_identifier=ident,
                instrument=pid,
                user=user,
                start=began,
                end=ended,
                status=status,
                record_generation_events=int(gen or 0),
                start_text=start_ts,
                end_text=end_ts,
                end_user=end_user,
                start_id=sid_row,
                timezone=tz,
            )
        )
    return out


def csv_row(summary: SessionSummary, now: datetime | None = None) -> dict[str, Any]:
    """One CSV line: times as stored, the duration in whole seconds (live for open ones)."""
    seconds = summary.duration_seconds(now or datetime.now(UTC))
    return {
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
