"""What would make NexusLIMS's ``get_sessions_to_build()`` fail or skip a session.

NexusLIMS 2.8 reads every TO_BE_BUILT row, parses every timestamp with ``fromisoformat``, and
for each START looks for an END with the same ``session_identifier``, ``instrument`` and
``user``; one START without such an END raises ``ValueError`` and stops the whole build run.
Other states do not stop the run but leave sessions unbuilt or built wrongly (an END without
START is never looked at, an END before its START gives an empty record, a session in ERROR
stays there until someone re-queues it).

:func:`find_problems` finds all of them in two passes: one aggregate query over
``session_log`` picks the suspicious sessions (so a healthy database of 100,000 sessions costs
one table scan), then only their rows are loaded and examined in Python, where each problem
gets a plain-words explanation, what to do, and the ids of the rows involved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from nexus_logger.core import timestamps
from nexus_logger.core.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.models import Instrument, SessionLogEntry
from nexus_logger.core.overlaps import Overlap, find_overlaps
from nexus_logger.core.schema import load_instruments, require_usable
from nexus_logger.core.summaries import instant

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__
_I = Instrument.__table__

#: Statuses a session can get stuck in after a failed build; re-queue it once the cause is fixed.
STUCK_STATUSES = (RecordStatus.ERROR.value, RecordStatus.NO_FILES_FOUND.value)

#: Default for "open longer than" (the ``long_session_hours`` setting overrides it).
DEFAULT_LONG_SESSION_HOURS = 12.0

#: Statuses of a session NexusLIMS has not built yet: a long one can still be corrected.
_NOT_BUILT = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

#: How many session identifiers go into one ``IN (...)`` when loading suspicious rows.
_BATCH = 500


class ProblemKind(StrEnum):
    """The kinds of problems, in the order they are shown (most harmful first)."""

    START_WITHOUT_END = "start_without_end"
    USER_MISMATCH = "user_mismatch"
    INSTRUMENT_MISMATCH = "instrument_mismatch"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    DUPLICATE_END = "duplicate_end"
    DUPLICATE_START = "duplicate_start"
    END_WITHOUT_START = "end_without_start"
    END_BEFORE_START = "end_before_start"
    STATUS_MISMATCH = "status_mismatch"
    NAIVE_TIMESTAMP = "naive_timestamp"
    OVERLAP = "overlap"
    FUTURE_START = "future_start"
    LONG_OPEN_SESSION = "long_open_session"
    LONG_SESSION = "long_session"
    STUCK_STATUS = "stuck_status"

    @property
    def title(self) -> str:
        """A short heading for the kind."""
        return _TITLES[self]


_TITLES = {
    ProblemKind.START_WITHOUT_END: "START to be built without its END",
    ProblemKind.USER_MISMATCH: "START and END users differ",
    ProblemKind.INSTRUMENT_MISMATCH: "START and END instruments differ",
    ProblemKind.BAD_TIMESTAMP: "Unreadable timestamp",
    ProblemKind.UNKNOWN_INSTRUMENT: "Unknown instrument",
    ProblemKind.DUPLICATE_END: "Several ENDs",
    ProblemKind.DUPLICATE_START: "Several STARTs",
    ProblemKind.END_WITHOUT_START: "END without START",
    ProblemKind.END_BEFORE_START: "END before START",
    ProblemKind.STATUS_MISMATCH: "START and END statuses differ",
    ProblemKind.NAIVE_TIMESTAMP: "Timestamp without time zone",
    ProblemKind.OVERLAP: "Sessions overlap on one instrument",
    ProblemKind.FUTURE_START: "START in the future",
    ProblemKind.LONG_OPEN_SESSION: "Session open for a long time",
    ProblemKind.LONG_SESSION: "Session to be built lasted a long time",
    ProblemKind.STUCK_STATUS: "Build failed or found no files",
}

_KIND_ORDER = {kind: i for i, kind in enumerate(ProblemKind)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one session.

    ``blocks_build`` is True when NexusLIMS's next ``get_sessions_to_build()`` would raise
    (and so build nothing at all) because of it. ``fix`` names the admin action that repairs
    it (``force_end``, ``requeue``, ``fix_user``), if there is one.
    """

    kind: ProblemKind
    session_identifier: str
    instrument: str | None
    explanation: str
    action: str
    row_ids: tuple[int, ...]
    blocks_build: bool = False
    fix: str | None = None
    users: tuple[str | None, ...] = field(default=())
    #: Every user name the texts may contain (so that core/privacy.py can hide them).
    mentions: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        """The kind's short heading."""
        return self.kind.title

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["title"] = self.title
        data["row_ids"] = list(self.row_ids)
        data["users"] = list(self.users)
        del data["mentions"]
        return data


@dataclass(frozen=True)
class _Row:
    id: int
    session_identifier: str
    instrument: str
    timestamp: str
    event_type: str
    record_status: str
    user: str | None


def _naive_sql(column: Any) -> Any:
    """True for stored text without a UTC offset (or ``Z``); garbage counts too, checked later."""
    return ~or_(column.like("%+__:__"), column.like("%-__:__"), column.like("%Z"))


#: A START this far after now is in the future (the clocks of two PCs never agree exactly).
_FUTURE_SLACK = timedelta(minutes=5)


def _suspicious_sessions(conn: Any, now: datetime, long_limit: timedelta) -> list[str]:
    """Identifiers of sessions that might have a problem (one grouped scan of session_log)."""
    ev = _T.c.event_type
    is_start = ev == EventType.START.value
    is_end = ev == EventType.END.value

    def of(cond: Any, value: Any) -> Any:
        return case((cond, value))

    n_start = func.sum(case((is_start, 1), else_=0))
    n_end = func.sum(case((is_end, 1), else_=0))
    start_user = func.max(of(is_start, _T.c.user))
    start_user_min = func.min(of(is_start, _T.c.user))
    end_user_max = func.max(of(is_end, _T.c.user))
    end_user_min = func.min(of(is_end, _T.c.user))
    n_start_null_user = func.sum(case((and_(is_start, _T.c.user.is_(None)), 1), else_=0))
    n_end_null_user = func.sum(case((and_(is_end, _T.c.user.is_(None)), 1), else_=0))
    start_inst = func.max(of(is_start, _T.c.instrument))
    end_inst_max = func.max(of(is_end, _T.c.instrument))
    end_inst_min = func.min(of(is_end, _T.c.instrument))
    start_status = func.max(of(is_start, _T.c.record_status))
    n_end_tbb = func.sum(
        case((and_(is_end, _T.c.record_status == RecordStatus.TO_BE_BUILT.value), 1), else_=0)
    )
    end_status_max = func.max(of(is_end, _T.c.record_status))
    end_status_min = func.min(of(is_end, _T.c.record_status))
    n_unreadable = func.sum(case((instant(_T.c.timestamp).is_(None), 1), else_=0))
    n_stuck = func.sum(case((_T.c.record_status.in_(STUCK_STATUSES), 1), else_=0))
    start_at = func.min(of(is_start, instant(_T.c.timestamp)))
    end_at = func.max(of(is_end, instant(_T.c.timestamp)))
    n_naive = func.sum(case((_naive_sql(_T.c.timestamp), 1), else_=0))
    n_unknown = func.sum(case((_I.c.instrument_pid.is_(None), 1), else_=0))
    stmt = (
        select(_T.c.session_identifier)
        .select_from(_T.outerjoin(_I, _I.c.instrument_pid == _T.c.instrument))
        .group_by(_T.c.session_identifier)
        .having(
            or_(
                n_start != 1,
                n_end != 1,
                start_user_min != start_user,
                end_user_min != end_user_max,
                start_user != end_user_max,
                n_start_null_user != n_end_null_user,
                start_inst != end_inst_max,
                end_inst_min != end_inst_max,
                and_(start_status == RecordStatus.TO_BE_BUILT.value, n_end_tbb == 0),
                start_status != end_status_max,
                end_status_min != end_status_max,
                n_stuck > 0,
                end_at < start_at,
                n_naive > 0,
                n_unreadable > 0,
                n_unknown > 0,
                start_at > (now + _FUTURE_SLACK).timestamp(),
                and_(
                    start_status.in_(_NOT_BUILT),
                    end_at - start_at > long_limit.total_seconds(),
                ),
            )
        )
    )
    return [row[0] for row in conn.execute(stmt)]


def _rows_of(conn: Any, identifiers: Sequence[str]) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    for i in range(0, len(identifiers), _BATCH):
        chunk = list(identifiers[i : i + _BATCH])
        stmt = (
            select(*_T.c)  # the columns of _Row, in the table's order
            .where(_T.c.session_identifier.in_(chunk))
            .order_by(_T.c.id_session_log)
        )
        for row in conn.execute(stmt):
            item = _Row(*row)
            out.setdefault(item.session_identifier, []).append(item)
    return out


def find_problems(
    *,
    long_session_hours: float | None = None,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[Problem]:
    """Every problem in the database, most harmful first.

    ``long_session_hours`` is the limit after which an open session is reported (default:
    the ``long_session_hours`` setting, 12 h). ``now`` is for tests.
    """
    eng = get_engine(engine)
    require_usable(eng)
    if long_session_hours is None:
        long_session_hours = _configured_long_hours()
    now = now or datetime.now(UTC)
    limit = timedelta(hours=long_session_hours)
    instruments = load_instruments(eng)
    with read_connection(eng) as conn:
        suspicious = _suspicious_sessions(conn, now, limit)
        rows = _rows_of(conn, suspicious)
        overlapping = find_overlaps(conn, now.timestamp())
    zones = {pid: inst.timezone for pid, inst in instruments.items()}
    problems: list[Problem] = []
    for ident in suspicious:
        problems.extend(_examine(ident, rows.get(ident, []), zones, limit, now))
    problems.extend(_overlap_problem(o) for o in overlapping)
    problems.sort(key=lambda p: (not p.blocks_build, _KIND_ORDER[p.kind], p.row_ids[:1] or (0,)))
    _logger.info("Found %d problem(s) in %d suspicious session(s)", len(problems), len(suspicious))
    return problems


def _configured_long_hours() -> float:
    from nexus_logger.core.config import load_settings
    from nexus_logger.core.errors import NexusLoggerError

    try:
        return float(load_settings().long_session_hours)
    except NexusLoggerError:
        return DEFAULT_LONG_SESSION_HOURS


def _ids(rows: Iterable[_Row]) -> tuple[int, ...]:
    return tuple(r.id for r in rows)


def _fmt_user(user: str | None) -> str:
    return "no user" if user is None else repr(user)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h"


def _examine(
    ident: str,
    rows: list[_Row],
    zones: dict[str, str],
    long_limit: timedelta,
    now: datetime,
) -> list[Problem]:
    """The problems of one session, from all its rows."""
    starts = [r for r in rows if r.event_type == EventType.START.value]
    ends = [r for r in rows if r.event_type == EventType.END.value]
    out: list[Problem] = []
    inst = starts[0].instrument if starts else (rows[0].instrument if rows else None)
    to_build = RecordStatus.TO_BE_BUILT.value
    mentioned = tuple(sorted({r.user for r in rows if r.user}))

    def add(kind: ProblemKind, explanation: str, action: str, affected: Iterable[_Row], **kw: Any):
        out.append(
            Problem(
                kind=kind,
                session_identifier=ident,
                instrument=inst,
                explanation=explanation,
                action=action,
                row_ids=_ids(affected),
                mentions=mentioned,
                **kw,
            )
        )

    # Timestamps NexusLIMS cannot read at all, or reads without a zone.
    bad = [r for r in rows if not _parses(r.timestamp)]
    if bad:
        blocking = any(r.record_status == to_build for r in bad)
        add(
            ProblemKind.BAD_TIMESTAMP,
            f"{len(bad)} row(s) of session {ident} hold a timestamp that is not an ISO-8601 "
            f"time ({', '.join(repr(r.timestamp) for r in bad[:3])}). NexusLIMS parses every "
            "TO_BE_BUILT row with datetime.fromisoformat and "
            + (
                "stops the whole build run on this one."
                if blocking
                else "would stop the build run if this session were re-queued."
            ),
            "Correct the timestamp in the database (for example to 2025-01-06T08:06:34-05:00) "
            "with a database tool, then re-check.",
            bad,
            blocks_build=blocking,
        )
    naive = [r for r in rows if r not in bad and timestamps.is_naive(r.timestamp)]
    if naive:
        add(
            ProblemKind.NAIVE_TIMESTAMP,
            f"{len(naive)} row(s) of session {ident} have a timestamp without UTC offset "
            f"(e.g. {naive[0].timestamp!r}), as NexusLIMS 1.x wrote them. NexusLIMS 2.8 reads "
            "them as naive datetimes, which compare wrongly with the zone-aware times it uses "
            "to find the session's files.",
            "Nothing to do for sessions already built. For a session still to build, add the "
            f"instrument's UTC offset ({zones.get(inst or '', 'its time zone')}) to the "
            "timestamps before the back-end runs.",
            naive,
        )

    # Instruments NexusLIMS does not know (it does not enforce the foreign key).
    unknown = [r for r in rows if r.instrument not in zones]
    if unknown:
        blocking = any(r.record_status == to_build for r in unknown)
        names = sorted({r.instrument for r in unknown})
        add(
            ProblemKind.UNKNOWN_INSTRUMENT,
            f"Session {ident} names the instrument(s) {', '.join(map(repr, names))}, which "
            "are not in the instruments table. NexusLIMS cannot find the files or the time "
            "zone of an unknown instrument"
            + (" and fails when it builds this session." if blocking else "."),
            "Add the instrument to NexusLIMS, or correct the instrument_pid of these rows.",
            unknown,
            blocks_build=blocking,
        )

    if not starts:
        if ends:
            tbb = any(r.record_status == to_build for r in ends)
            add(
                ProblemKind.END_WITHOUT_START,
                f"Session {ident} has {len(ends)} END row(s) but no START. NexusLIMS only "
                "looks at STARTs, so this session is never built"
                + (" although it is marked TO_BE_BUILT." if tbb else "."),
                "Find the session's START (it may have been written with another identifier) "
                "or ignore these rows if the session was never real.",
                ends,
            )
        return out

    start = starts[0]
    if len(starts) > 1:
        add(
            ProblemKind.DUPLICATE_START,
            f"Session {ident} has {len(starts)} START rows. NexusLIMS builds one record per "
            "START, so the same session may be built several times.",
            "Keep one START: ask the NexusLIMS administrators to remove the extra row(s).",
            starts,
            blocks_build=False,
        )
    if len(ends) > 1:
        add(
            ProblemKind.DUPLICATE_END,
            f"Session {ident} has {len(ends)} END rows. NexusLIMS uses the newest matching END "
            "and ignores the others, so the session's end time may be wrong.",
            "Check which END is right; ask the NexusLIMS administrators to remove the others.",
            ends,
        )

    # The pairing rule of get_sessions_to_build().
    users_differ = [r for r in ends if r.user != start.user]
    inst_differ = [r for r in ends if r.instrument != start.instrument]
    other_starts = [s for s in starts[1:] if s.user != start.user]
    start_tbb = start.record_status == to_build
    matching = [
        r
        for r in ends
        if r.record_status == to_build and r.user == start.user and r.instrument == start.instrument
    ]
    blocking = start_tbb and not matching
    if users_differ or other_starts:
        users = tuple(dict.fromkeys([start.user, *(r.user for r in users_differ + other_starts)]))
        add(
            ProblemKind.USER_MISMATCH,
            f"Session {ident}: START was written for {_fmt_user(start.user)} but END for "
            f"{', '.join(_fmt_user(r.user) for r in users_differ) or _fmt_user(start.user)}. "
            + (
                "NexusLIMS pairs START and END by user, finds no END, and stops the whole "
                "build run."
                if blocking
                else "NexusLIMS pairs START and END by user; it will fail on this session "
                "when it is to be built."
            ),
            "Fix the user mismatch (admin action): choose the right user for both rows.",
            [start, *users_differ, *other_starts],
            blocks_build=blocking,
            fix="fix_user",
            users=users,
        )
    if inst_differ:
        add(
            ProblemKind.INSTRUMENT_MISMATCH,
            f"Session {ident}: START is on {start.instrument!r} but END on "
            f"{', '.join(sorted({repr(r.instrument) for r in inst_differ}))}. NexusLIMS pairs "
            "START and END by instrument"
            + (
                ", finds no END, and stops the whole build run."
                if blocking
                else " and will fail on this session when it is to be built."
            ),
            "Correct the instrument of the wrong row with a database tool.",
            [start, *inst_differ],
            blocks_build=blocking,
        )
    if start_tbb and not matching and not users_differ and not inst_differ:
        if ends:
            statuses = ", ".join(sorted({r.record_status for r in ends}))
            why = f"its END row is {statuses}, not TO_BE_BUILT"
            todo = "Re-queue the session (admin action) so that START and END are both TO_BE_BUILT."
            fix = "requeue"
        else:
            why = "it has no END row"
            todo = "Force-end the session at the time it really ended (admin action)."
            fix = "force_end"
        add(
            ProblemKind.START_WITHOUT_END,
            f"Session {ident} on {start.instrument} ({_fmt_user(start.user)}) is TO_BE_BUILT "
            f"but {why}. NexusLIMS raises an error on such a START and stops the whole build "
            "run, so no session gets built.",
            todo,
            [start, *ends],
            blocks_build=True,
            fix=fix,
        )

    if not blocking and ends:
        odd = [r for r in [start, *ends] if r.record_status != start.record_status]
        if odd:
            skipped = start.record_status == RecordStatus.WAITING_FOR_END.value and any(
                r.record_status == to_build for r in ends
            )
            add(
                ProblemKind.STATUS_MISMATCH,
                f"Session {ident}: START is {start.record_status} but END is "
                f"{', '.join(sorted({r.record_status for r in odd}))}. "
                + (
                    "NexusLIMS only builds sessions whose START is TO_BE_BUILT, so this "
                    "ended session is skipped and never built."
                    if skipped
                    else "START and END should always share one status; NexusLIMS may skip "
                    "or misreport this session."
                ),
                "Re-queue the session (admin action) so that START and END are both "
                "TO_BE_BUILT, or set both to the right status.",
                [start, *odd],
                fix="requeue",
            )

    tz = zones.get(start.instrument)
    began = _parse(start.timestamp, tz)
    for end in ends:
        ended = _parse(end.timestamp, zones.get(end.instrument, tz))
        if began is not None and ended is not None and ended < began:
            add(
                ProblemKind.END_BEFORE_START,
                f"Session {ident} ends ({end.timestamp}) before it starts ({start.timestamp}). "
                "NexusLIMS would look for files in an empty time range and find none.",
                "Correct the END's timestamp with a database tool (or the START's), then "
                "re-queue the session.",
                [start, end],
            )

    closed_before = any(
        (e := _parse(end.timestamp, zones.get(end.instrument, tz))) is not None
        and began is not None
        and e < began
        for end in ends
    )  # an END before it: "END before START" says all there is to say
    if began is not None and began > now + _FUTURE_SLACK and not closed_before:
        add(
            ProblemKind.FUTURE_START,
            f"Session {ident} on {start.instrument} ({_fmt_user(start.user)}) starts in the "
            f"future ({start.timestamp}). While it is open nobody can start a session on the "
            "instrument, and it cannot be ended normally (an END before its START).",
            "Force-end the session (admin action): it is then marked ERROR, so NexusLIMS never "
            "builds it; correct the START by hand if the session really happened.",
            [start],
            fix="force_end" if not ends else None,
        )
    elif not ends and start.record_status == RecordStatus.WAITING_FOR_END.value:
        if began is not None and now - began > long_limit:
            add(
                ProblemKind.LONG_OPEN_SESSION,
                f"Session {ident} on {start.instrument} ({_fmt_user(start.user)}) has been "
                f"open for {_hours(now - began)}, since {start.timestamp}, longer than the "
                f"{long_limit.total_seconds() / 3600:g} h limit. Someone probably forgot to "
                "end it, and it will not be built until it ends.",
                "Ask the user when they stopped, then force-end the session at that time "
                "(admin action).",
                [start],
                fix="force_end",
            )

    last_end = max((e for r in ends if (e := _parse(r.timestamp, tz)) is not None), default=None)
    if (
        began is not None
        and last_end is not None
        and start.record_status in _NOT_BUILT
        and last_end - began > long_limit
    ):
        add(
            ProblemKind.LONG_SESSION,
            f"Session {ident} on {start.instrument} ({_fmt_user(start.user)}) lasted "
            f"{_hours(last_end - began)}, from {start.timestamp} to {ends[-1].timestamp}, longer "
            f"than the {long_limit.total_seconds() / 3600:g} h limit. It was probably left open "
            "and ended later (perhaps by the next user); NexusLIMS will build one record over "
            "all that time.",
            "Ask the user when they really stopped; if earlier, correct the END's time with a "
            "database tool before NexusLIMS builds the session.",
            [start, *ends],
        )

    stuck = sorted({r.record_status for r in rows if r.record_status in STUCK_STATUSES})
    if stuck and start.record_status in STUCK_STATUSES:
        add(
            ProblemKind.STUCK_STATUS,
            f"Session {ident} on {start.instrument} is {start.record_status}: the back-end "
            + (
                "found no files for it."
                if start.record_status == RecordStatus.NO_FILES_FOUND.value
                else "failed while building its record."
            )
            + " It stays so until someone re-queues it.",
            "Check the back-end's log (and the instrument's file share), fix the cause, then "
            "re-queue the session (admin action).",
            [r for r in rows if r.record_status in STUCK_STATUSES],
            fix="requeue",
        )
    return out


def _overlap_problem(pair: Overlap) -> Problem:
    """One problem for the later session of an overlapping pair, naming the earlier one."""
    a, b = pair.earlier, pair.later
    return Problem(
        kind=ProblemKind.OVERLAP,
        session_identifier=b.session_identifier,
        instrument=b.instrument,
        explanation=(
            f"Session {b.session_identifier} ({_fmt_user(b.user)}, from {b.start_text} to "
            f"{b.end_text or 'still open'}) overlaps session {a.session_identifier} "
            f"({_fmt_user(a.user)}, {a.start_text} to {a.end_text or 'still open'}) on "
            f"{b.instrument}. NexusLIMS would build two records from the same files."
        ),
        action=(
            "Ask both users which session is right; correct the other's times with a database "
            "tool or force-end it at the right time, then re-check."
        ),
        row_ids=(a.start_id, b.start_id),
        users=(a.user, b.user),
        mentions=tuple(u for u in (a.user, b.user) if u),
    )


def _parses(text: str | None) -> bool:
    if text is None:
        return False
    try:
        timestamps.parse(text)
    except timestamps.TimestampError:
        return False
    return True


def _parse(text: str, tz: str | None) -> datetime | None:
    try:
        return timestamps.parse(text, tz)
    except timestamps.TimestampError:
        return None


def problems_by_session(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    """Problems grouped by session identifier (for marking rows in the sessions list)."""
    out: dict[str, list[Problem]] = {}
    for problem in problems:
        out.setdefault(problem.session_identifier, []).append(problem)
    return out


def audit_trail_problems(*, engine: EngineLike = None) -> list[str]:
    """Sentences about a broken or shortened audit trail (empty when its hash chain holds).

    Not session problems, so not part of :func:`find_problems`; ``check`` and the Admin tab
    report both. See :mod:`~nexus_logger.core.audit_chain` for what the chain can promise.
    """
    from nexus_logger.core.admin_actions import check_audit_chain

    return list(check_audit_chain(engine).problems)
