"""The previews of the admin actions: which ``session_log`` rows an action would change and
how, read from the database and checked, with nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, describe, get_engine, read_connection
from nexus_logger.core.db.models import session_log
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.durations import in_words
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import Conflict, InvalidInput, NotFound
from nexus_logger.core.sessions.inputs import end_text_like_start
from nexus_logger.core.sessions.lifecycle import CLOCK_SLACK, check_end_time
from nexus_logger.core.sessions.time_rules import localize
from nexus_logger.core.staff.session_summary import instrument_zones
from nexus_logger.core.validation import MAX_IDENTIFIER, clean_text, clean_user

_T = session_log
_START = EventType.START.value
_END = EventType.END.value
_TO_BE_BUILT = RecordStatus.TO_BE_BUILT.value
_WAITING = RecordStatus.WAITING_FOR_END.value
ERROR = RecordStatus.ERROR.value

FORCE_END = "force_end"
REQUEUE = "requeue"
FIX_USER = "fix_user"
ACTIONS = (FORCE_END, REQUEUE, FIX_USER)


@dataclass(frozen=True)
class RowChange:
    """One ``session_log`` row an action changes: ``before`` is None for an inserted row."""

    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def id_session_log(self) -> int | None:
        return self.before["id_session_log"] if self.before else None

    def describe(self) -> str:
        """One line a person can check, e.g. ``row 7 START: record_status ERROR -> TO_BE_BUILT``."""
        if self.before is None:
            a = self.after
            return (
                f"new {a['event_type']} row: {a['timestamp']}, user {a['user']!r}, "
                f"{a['record_status']}"
            )
        diffs = [
            f"{key} {self.before[key]!r} -> {self.after[key]!r}"
            for key in ("timestamp", "user", "record_status", "instrument")
            if self.before.get(key) != self.after.get(key)
        ]
        return f"row {self.before['id_session_log']} {self.before['event_type']}: " + "; ".join(
            diffs
        )


@dataclass(frozen=True)
class ActionPlan:
    """What an action will do, shown to the person before they confirm."""

    action: str
    session_identifier: str
    instrument: str
    summary: str
    changes: tuple[RowChange, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary followed by one line per changed row."""
        return [self.summary, *(f"  - {c.describe()}" for c in self.changes)]


def session_rows(conn: Connection, ident: str) -> list[dict[str, Any]]:
    """Every row of session ``ident``, as dicts, in id order."""
    stmt = (
        select(*_T.columns)  # every column of session_log, in the model's order
        .where(_T.c.session_identifier == ident)
        .order_by(_T.c.id_session_log)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]


def _clean_identifier(value: object) -> str:
    return clean_text(value, "session identifier", MAX_IDENTIFIER)


def existing_rows(conn: Connection, ident: str) -> list[dict[str, Any]]:
    """The rows of session ``ident``; :class:`NotFound` when it has none."""
    rows = session_rows(conn, ident)
    if not rows:
        raise NotFound(f"There is no session {ident} in the database {describe(conn.engine)}.")
    return rows


def _split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        [r for r in rows if r["event_type"] == _START],
        [r for r in rows if r["event_type"] == _END],
    )


def _force_end_changes(
    ident: str, rows: list[dict[str, Any]], at: datetime, zones: dict[str, str]
) -> tuple[tuple[RowChange, ...], str, str, str]:
    starts, ends = _split(rows)
    if not starts:
        raise _no_start(ident, "there is nothing to end")
    if ends:
        raise Conflict(
            f"Session {ident} already has an END ({ends[-1]['timestamp']}); it is not open. "
            "Re-queue it instead if it needs building again."
        )
    start = starts[0]
    if start["record_status"] not in (_WAITING, _TO_BE_BUILT):
        raise Conflict(
            f"Session {ident} has no END but its START is {start['record_status']}; "
            "force-end only works on open sessions (START waiting for its END)."
        )
    pid = start["instrument"]
    if pid not in zones:
        raise InvalidInput(
            f"Session {ident} is on {pid!r}, which is not in the instruments table; add the "
            "instrument before ending the session."
        )
    tz = zones[pid]
    # A naive time is the instrument's wall clock: refused if that clock skipped it or showed
    # it twice (the sentence names both readings), as for a session's own END.
    stamp = timestamps.to_db(localize(at, tz, "end time"), tz)
    ended = timestamps.parse(stamp, tz)
    try:
        began = timestamps.parse(start["timestamp"], tz)
    except timestamps.TimestampError:
        raise InvalidInput(
            f"Session {ident}'s START time {start['timestamp']!r} cannot be read; correct it first."
        ) from None
    if began > datetime.now(UTC) + CLOCK_SLACK:
        return _close_future_start(ident, starts, start, stamp, ended, pid, tz)
    check_end_time(ended, began, stamp=stamp, start_text=start["timestamp"])
    # The END in its START's form (naive for a 1.x START), as a session's own END is written,
    # and read back as NexusLIMS will read it.
    written = end_text_like_start(stamp, start["timestamp"], tz)
    ended = timestamps.parse(written, tz)
    if ended == began:  # a typed minute that is exactly the start: a record of nothing
        raise InvalidInput(
            f"The end time {stamp} is the moment session {ident} started; NexusLIMS would "
            "build a record of no time at all. Give the time it really ended."
        )
    waiting_starts = [s for s in starts if s["record_status"] == _WAITING]
    changes = [RowChange(s, {**s, "record_status": _TO_BE_BUILT}) for s in waiting_starts]
    changes.append(_new_end(ident, pid, written, _TO_BE_BUILT, start["user"]))
    summary = (
        f"Force-end session {ident} on {pid} (user {start['user']!r}) at {stamp}, "
        f"{in_words((ended - began).total_seconds())} after it started; it becomes TO_BE_BUILT."
    )
    return tuple(changes), summary, pid, stamp


def _new_end(ident: str, pid: str, stamp: str, status: str, user: str | None) -> RowChange:
    """The END row a force-end inserts."""
    return RowChange(
        None,
        {
            "id_session_log": None,
            "session_identifier": ident,
            "instrument": pid,
            "timestamp": stamp,
            "event_type": _END,
            "record_status": status,
            "user": user,
        },
    )


def _close_future_start(
    ident: str,
    starts: list[dict[str, Any]],
    start: dict[str, Any],
    stamp: str,
    ended: datetime,
    pid: str,
    tz: str,
) -> tuple[tuple[RowChange, ...], str, str, str]:
    """A START in the future (an older logger, a hand edit) blocks the instrument for ever and
    cannot get an END after it; it is closed as ERROR, so NexusLIMS never builds it."""
    if ended > datetime.now(UTC) + CLOCK_SLACK:
        raise InvalidInput(f"The end time {stamp} is in the future. Give now at the latest.")
    changes = [RowChange(s, {**s, "record_status": ERROR}) for s in starts]
    written = end_text_like_start(stamp, start["timestamp"], tz)  # a 1.x START: no offset
    changes.append(_new_end(ident, pid, written, ERROR, start["user"]))
    summary = (
        f"Close session {ident} on {pid} (user {start['user']!r}), whose START is in the future "
        f"({start['timestamp']}): an END at {stamp} is added and the session becomes ERROR, so "
        "the instrument is free and NexusLIMS never builds it. Correct the START by hand if the "
        "session really happened, then re-queue it."
    )
    return tuple(changes), summary, pid, stamp


def _requeue_changes(
    ident: str, rows: list[dict[str, Any]]
) -> tuple[tuple[RowChange, ...], str, str]:
    starts, ends = _split(rows)
    if not starts:
        raise _no_start(ident, "NexusLIMS only builds sessions with a START")
    if len(starts) > 1:
        raise Conflict(
            f"Session {ident} has {len(starts)} START rows; re-queuing it would build it more "
            "than once. Remove the extra START first."
        )
    start = starts[0]
    if not ends:
        raise Conflict(
            f"Session {ident} has no END yet; re-queuing it would stop the NexusLIMS build run. "
            "Force-end it instead."
        )
    bad = [e for e in ends if e["user"] != start["user"] or e["instrument"] != start["instrument"]]
    if bad:
        raise Conflict(
            f"Session {ident}'s END has user {bad[0]['user']!r} on {bad[0]['instrument']!r} but "
            f"its START {start['user']!r} on {start['instrument']!r}; NexusLIMS could not pair "
            "them. Fix the user mismatch first."
        )
    targets = [r for r in (start, *ends) if r["record_status"] != _TO_BE_BUILT]
    if not targets:
        raise Conflict(f"Session {ident} is already TO_BE_BUILT; there is nothing to re-queue.")
    changes = tuple(RowChange(r, {**r, "record_status": _TO_BE_BUILT}) for r in targets)
    was = start["record_status"]
    generations = sum(r["event_type"] == EventType.RECORD_GENERATION.value for r in rows)
    summary = (
        f"Re-queue session {ident} on {start['instrument']} (user {start['user']!r}, was "
        f"{was}): the back-end builds it on its next run."
        + (
            " NexusLIMS already built a record of this session: it builds and uploads a second one."
            if was == RecordStatus.COMPLETED.value
            else ""
        )
        + (
            " NexusLIMS found no files for it last time: unless files were added to its "
            "folder since, it will be NO_FILES_FOUND again."
            if was == RecordStatus.NO_FILES_FOUND.value
            else ""
        )
        + (f" Its {generations} RECORD_GENERATION row(s) stay as they are." if generations else "")
    )
    return changes, summary, start["instrument"]


def _fix_user_changes(
    ident: str, rows: list[dict[str, Any]], user: str
) -> tuple[tuple[RowChange, ...], str, str]:
    starts, ends = _split(rows)
    if not starts:
        raise _no_start(ident, "NexusLIMS only builds sessions with a START")
    if not ends:  # the session's state, as for requeue: a refusal (exit 4)
        raise Conflict(
            f"Session {ident} has no END yet; START and END users can only be made equal once "
            "it has one. End it first."
        )
    targets = [r for r in (*starts, *ends) if r["user"] != user]
    if not targets:
        raise Conflict(
            f"START and END of session {ident} already have the user {user!r}; nothing to fix."
        )
    changes = tuple(RowChange(r, {**r, "user": user}) for r in targets)
    old = sorted({str(r["user"]) for r in targets})
    built = any(r["record_status"] == RecordStatus.COMPLETED.value for r in (*starts, *ends))
    summary = (
        f"Set the user of session {ident} on {starts[0]['instrument']} to {user!r} on START "
        f"and END (was {', '.join(old)}); statuses stay as they are"
        + (
            ", so the record NexusLIMS already built keeps the old user (re-queue the "
            "session to build it again)."
            if built
            else "."
        )
    )
    return changes, summary, starts[0]["instrument"]


def _no_start(ident: str, why: str) -> Conflict:
    """The refusal of any action on a session that has no START row (its state: exit 4)."""
    return Conflict(f"Session {ident} has no START row; {why}.")


def _session_rows(
    engine: EngineLike, session_identifier: str
) -> tuple[Engine, str, list[dict[str, Any]]]:
    """The usable database, the checked identifier and the session's rows as stored."""
    eng = get_engine(engine)
    require_usable(eng)
    ident = _clean_identifier(session_identifier)
    with read_connection(eng) as conn:
        rows = existing_rows(conn, ident)
    return eng, ident, rows


def plan_force_end(
    session_identifier: str, at: datetime, *, engine: EngineLike = None
) -> ActionPlan:
    """Preview ending an open session at ``at`` (naive means the instrument's zone)."""
    eng, ident, rows = _session_rows(engine, session_identifier)
    # ``stamp``: the instant to end at, with its offset (the END row may be written without).
    changes, summary, pid, stamp = _force_end_changes(ident, rows, at, instrument_zones(eng))
    return ActionPlan(FORCE_END, ident, pid, summary, changes, {"at": stamp})


def plan_requeue(session_identifier: str, *, engine: EngineLike = None) -> ActionPlan:
    """Preview setting a session's START and END back to TO_BE_BUILT."""
    _, ident, rows = _session_rows(engine, session_identifier)
    changes, summary, pid = _requeue_changes(ident, rows)
    return ActionPlan(REQUEUE, ident, pid, summary, changes)


def plan_fix_user(session_identifier: str, user: str, *, engine: EngineLike = None) -> ActionPlan:
    """Preview giving START and END of a session the same ``user``."""
    name = clean_user(user)
    _, ident, rows = _session_rows(engine, session_identifier)
    changes, summary, pid = _fix_user_changes(ident, rows, name)
    return ActionPlan(FIX_USER, ident, pid, summary, changes, {"user": name})
