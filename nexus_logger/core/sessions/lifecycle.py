"""The session lifecycle of one instrument PC: identify, start, end, resume, heartbeat, note.

Used by the CLI, the GUI's database worker and the outbox replay. Every state change is one
transaction (:func:`~nexus_logger.core.db.engine.write_transaction`: ``BEGIN IMMEDIATE`` on SQLite,
plus a transaction-scoped advisory lock on the instrument on PostgreSQL), so the states the
original logger could leave behind cannot happen:

* two open sessions on one instrument: the "is one open?" check and the START insert run under
  the same lock, so of N PCs racing to start exactly one writes a START and the others get that
  session back (``created=False``);
* an END whose rows were never queued: the END insert and the status change of START and END
  to ``TO_BE_BUILT`` commit together, with the row counts checked, or not at all. NexusLIMS's
  ``get_sessions_to_build()`` needs both rows TO_BE_BUILT with the same user, or it stops the
  whole build run.

"Open session" means the latest START on the instrument whose ``session_identifier`` has no END
row (RECORD_GENERATION rows are ignored) and whose status still allows an END (WAITING_FOR_END,
or TO_BE_BUILT: the broken state that stops NexusLIMS, which ending repairs). A START without
END that someone already set to a final status (ERROR, ...) is not open: it could never be
ended, and would otherwise block the instrument for good. :mod:`~nexus_logger.core.sessions.open_rule`
holds that check and the claim row that makes a second open session impossible; every time
passes :mod:`~nexus_logger.core.sessions.time_rules` first.

The logger-owned tables ``nexus_logger_heartbeat`` and ``nexus_logger_note`` hold the last-alive
time and the note of a session; a local JSON file in
:func:`~nexus_logger.core.settings.paths.data_dir` also keeps the last-alive time, so a PC that lost the
network still knows when its session was last alive.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    engine_info,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.instrument_lock import holds_instrument_lock, lock_instrument
from nexus_logger.core.db.logger_tables import (
    ensure_in_transaction,
    ensure_tables,
    table_exists,
)
from nexus_logger.core.db.logger_tables import heartbeat as heartbeat_table
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.logger_tables import open_session as claim_table
from nexus_logger.core.db.models import Instrument, SessionLogEntry
from nexus_logger.core.db.schema import legacy_computer_names, load_instruments, require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import (
    EXIT_REFUSED,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
)
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.open_rule import ENDABLE, LoggedSession
from nexus_logger.core.sessions.station import host_candidates, lookup_station, this_host
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules, localize
from nexus_logger.core.settings import paths
from nexus_logger.core.validation import MAX_IDENTIFIER, clean_instrument, clean_text, clean_user

_logger = logging.getLogger(__name__)

__all__ = [
    "CLOCK_SLACK",
    "MAX_NOTE",
    "EndedSession",
    "NoOpenSession",
    "OpenSession",
    "SessionAlreadyOpen",
    "SessionsOverlap",
    "StartResult",
    "clean_note",
    "check_end_time",
    "default_user",
    "end_in_transaction",
    "end_session",
    "find_open_session",
    "get_note",
    "heartbeat_file",
    "identify_instrument",
    "last_heartbeat",
    "lock_instrument",
    "record_heartbeat",
    "record_local_heartbeat",
    "replace_session",
    "set_note",
    "start_session",
]

_T = SessionLogEntry.__table__
_START = EventType.START.value
_END = EventType.END.value
_WAITING = RecordStatus.WAITING_FOR_END.value
_TO_BE_BUILT = RecordStatus.TO_BE_BUILT.value

#: Longest note accepted (characters).
MAX_NOTE = 2000
#: Instruments change rarely; a short cache saves a query on every start and end. An unknown
#: PID always reloads, so a newly added instrument is usable at once.
_INSTRUMENT_CACHE_SECONDS = 60.0
#: A start or end time may be this far in the future by default (``clock_skew_minutes``).
CLOCK_SLACK = DEFAULT_RULES.skew
#: Entries of the local heartbeat file older than this are dropped when it is rewritten.
_LOCAL_HEARTBEAT_KEEP = timedelta(days=30)

# The statements of start and end, built once: building a SQLAlchemy expression costs more
# client CPU than the round trip it sends (these run on every start and end).
_START_AND_END = (
    select(
        _T.c.id_session_log,
        _T.c.instrument,
        _T.c.user,
        _T.c.timestamp,
        _T.c.record_status,
        _T.c.event_type,
    )
    .where(_T.c.session_identifier == bindparam("ident"), _T.c.event_type.in_((_START, _END)))
    .order_by(_T.c.id_session_log)
)
_QUEUE = (
    update(_T)
    .where(
        _T.c.session_identifier == bindparam("ident"),
        _T.c.event_type.in_((_START, _END)),
        _T.c.record_status == _WAITING,
    )
    .values(record_status=_TO_BE_BUILT)
)
_INSERT_EVENT = insert(_T)

#: Test seam: called with the connection between the END insert and the status update of
#: :func:`end_in_transaction`. Tests set it to inject a failure at the worst moment; it is
#: ``None`` in normal use.
_between_end_insert_and_status_update: Callable[[Connection], None] | None = None


class NoOpenSession(NotFound):
    """There is no open session to end on the instrument."""

    exit_code = EXIT_REFUSED


class SessionAlreadyOpen(Conflict):
    """A session is already open on the instrument (raised by callers that refuse to resume)."""

    exit_code = EXIT_REFUSED


class SessionsOverlap(Conflict):
    """A START with a given time, or a whole session, would overlap sessions logged meanwhile."""

    def __init__(self, message: str, sessions: list[LoggedSession]) -> None:
        super().__init__(message)
        self.sessions = sessions


@dataclass(frozen=True)
class OpenSession:
    """A session with a START and no END yet (RECORD_GENERATION rows ignored)."""

    session_identifier: str
    instrument: Instrument
    user: str | None
    started: datetime  # aware, in the instrument's zone
    start_text: str  # as stored
    last_heartbeat: datetime | None = None
    note: str | None = None
    hostname: str | None = None  # the PC that started it, when nexus-logger did
    #: When its START waits on this PC because the database could not be reached (the session
    #: is then known only here); None for a session in the database.
    kept_since: datetime | None = None

    @property
    def kept_on_pc(self) -> bool:
        """True when the session exists only on this PC so far (database not reached)."""
        return self.kept_since is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "session_identifier": self.session_identifier,
            "instrument": self.instrument.instrument_pid,
            "instrument_name": self.instrument.display_name,
            "user": self.user,
            "started": self.started.isoformat(),
            "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "note": self.note,
            "hostname": self.hostname,
            "kept_on_pc_since": self.kept_since.isoformat() if self.kept_since else None,
        }


@dataclass(frozen=True)
class StartResult:
    """What :func:`start_session` did: ``created`` is False when a session was already open."""

    session: OpenSession
    created: bool


@dataclass(frozen=True)
class EndedSession:
    """A session that :func:`end_session` closed (both rows now TO_BE_BUILT).

    ``already_ended`` is True when the session had an END before the call: nothing new was
    written (apart from finishing a half-done END left by the original logger), which makes a
    repeated END (an outbox replay after a crash) harmless.
    """

    session_identifier: str
    instrument: Instrument
    user: str | None
    started: datetime
    ended: datetime
    already_ended: bool = False

    @property
    def duration_seconds(self) -> float:
        return (self.ended - self.started).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "session_identifier": self.session_identifier,
            "instrument": self.instrument.instrument_pid,
            "instrument_name": self.instrument.display_name,
            "user": self.user,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "already_ended": self.already_ended,
        }


# --------------------------------------------------------------------------------------------
# Input checks and small helpers


def default_user() -> str:
    """The OS login of whoever runs the program: the default ``user`` of a session.

    This is NexusLIMS's ``user`` column (who was at the microscope), which the user may also
    give with ``--user``; it grants nothing. Who an *administrator* is comes from
    :mod:`nexus_logger.core.settings.identity` (the real account), never from this.
    """
    try:
        name = getpass.getuser()
    except Exception:  # OSError, KeyError or ImportError when nothing names the account
        name = ""
    if not name or not name.strip():
        raise InvalidInput(
            "Could not tell who is logged in on this PC. Give the user name (--user NAME)."
        )
    return name.strip()


def clean_note(value: object) -> str | None:
    """A session note: free text up to :data:`MAX_NOTE` characters; blank means no note.

    Line breaks and tabs are kept (a note may have several lines); other control characters
    are refused.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"The note must be text, not {type(value).__name__}.")
    text = value.replace("\r\n", "\n").strip()
    if not text:
        return None
    if any(ch not in "\n\t" and unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(
            "The note contains control characters other than line breaks and tabs. "
            "Type it again without them."
        )
    if len(text) > MAX_NOTE:
        raise InvalidInput(
            f"The note is {len(text)} characters long; at most {MAX_NOTE} are kept. Shorten it."
        )
    return text


def _clean_identifier(value: object) -> str:
    text = clean_text(value, "session identifier", MAX_IDENTIFIER)
    if any(ch.isspace() for ch in text):
        raise InvalidInput(f"The session identifier {text!r} contains spaces; check it.")
    return text


def _instruments(eng: Engine, *, refresh: bool = False) -> dict[str, Instrument]:
    info = engine_info(eng)
    cached = info.get("nexus_lifecycle_instruments")
    now = time.monotonic()
    if cached is not None and not refresh and now - cached[0] < _INSTRUMENT_CACHE_SECONDS:
        return cached[1]
    data = load_instruments(eng)
    info["nexus_lifecycle_instruments"] = (now, data)
    return data


def _instrument(eng: Engine, pid: str) -> Instrument:
    inst = _instruments(eng).get(pid)
    if inst is None:
        known = _instruments(eng, refresh=True)
        inst = known.get(pid)
        if inst is None:
            raise NotFound(
                f"The instrument {pid!r} is not in the database {describe(eng)}. "
                f"Known instruments: {', '.join(known) or 'none'}."
            )
    return inst


def _stamp(at: datetime | None, tz: str, what: str = "time") -> str:
    """Stored text of ``at`` (default now); a naive ``at`` is read strictly in ``tz``."""
    return timestamps.to_db(localize(at, tz, what) if at is not None else timestamps.now_in(tz), tz)


def _parse(text: str, tz: str | None) -> datetime:
    """Stored text as an aware datetime in the instrument's zone (a ZoneInfo, so that
    arithmetic across a DST change stays right); naive 1.x text is read in that zone."""
    return timestamps.parse(text, tz).astimezone(timestamps.zone(tz))


def _sessions_db(conn: Connection) -> str:
    return describe(conn.engine)


# --------------------------------------------------------------------------------------------
# Which instrument is this PC?


def _configured_instrument() -> str | None:
    from nexus_logger.core.settings.config import load_settings

    value = load_settings().instrument
    return value or None


def identify_instrument(
    *,
    instrument: str | None = None,
    hostname: str | None = None,
    engine: EngineLike = None,
    use_config: bool = True,
) -> Instrument:
    """This PC's instrument, found in this order:

    1. ``instrument`` (``--instrument PID``), else the ``instrument`` setting of the config
       file or environment (unless ``use_config`` is False);
    2. the logger-owned table ``nexus_logger_station`` (``nexus-logger station set``), by host
       name (``hostname``, default this PC), full name first, then without the DNS domain;
    3. the legacy ``instruments.computer_name`` column of a NexusLIMS 1.x database.

    Raises :class:`NotFound` naming this host and listing the known instruments when nothing
    matches, so the person at the PC knows exactly what to run.
    """
    eng = get_engine(engine)
    info = require_usable(eng)
    if instrument is None and use_config:
        instrument = _configured_instrument()
    if instrument is not None:
        return _instrument(eng, clean_instrument(instrument))
    host = hostname if hostname is not None else this_host()
    pid = lookup_station(host, engine=eng)
    how = "the station table"
    if pid is None and info.has_computer_name:
        names = {name.casefold(): p for name, p in legacy_computer_names(eng).items()}
        for candidate in host_candidates(host):
            if candidate in names:
                pid, how = names[candidate], "instruments.computer_name"
                break
    if pid is None:
        known = _instruments(eng, refresh=True)
        raise NotFound(
            f"This PC (host name {host!r}) is not linked to an instrument in the database "
            f"{describe(eng)}. Known instruments: {', '.join(known) or 'none'}. Run "
            "'nexus-logger station set PID' on this PC once, or pass --instrument PID."
        )
    try:
        inst = _instrument(eng, pid)
    except NotFound:
        known = _instruments(eng)
        raise NotFound(
            f"This PC (host name {host!r}) is linked to the instrument {pid!r}, which is not in "
            f"the database {describe(eng)}. Known instruments: {', '.join(known) or 'none'}. "
            "Fix the link with 'nexus-logger station set PID'."
        ) from None
    _logger.debug("Host %s is %s (from %s)", host, pid, how)
    return inst


# --------------------------------------------------------------------------------------------
# Reading sessions


def _open_start_row(conn: Connection, pid: str) -> Any:
    rows = open_rule.open_start_rows(conn, pid)
    return rows[0] if rows else None


def _start_rows(conn: Connection, ident: str) -> list[Any]:
    return _start_and_end_rows(conn, ident)[0]


def _start_and_end_rows(conn: Connection, ident: str) -> tuple[list[Any], list[Any]]:
    """START rows and END rows of a session, in id order, with one query (one round trip)."""
    rows = conn.execute(_START_AND_END, {"ident": ident}).all()
    return [r for r in rows if r.event_type == _START], [r for r in rows if r.event_type == _END]


def _db_heartbeat(conn: Connection, ident: str, tz: str) -> datetime | None:
    if not table_exists(conn, heartbeat_table):
        return None
    value = conn.execute(
        select(heartbeat_table.c.last_alive).where(heartbeat_table.c.session_identifier == ident)
    ).scalar()
    if value is None:
        return None
    try:
        return _parse(value, tz)
    except timestamps.TimestampError:
        _logger.warning("Unreadable heartbeat %r of session %s", value, ident)
        return None


def _db_note(conn: Connection, ident: str) -> str | None:
    if not table_exists(conn, note_table):
        return None
    return conn.execute(
        select(note_table.c.note).where(note_table.c.session_identifier == ident)
    ).scalar()


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _open_session(conn: Connection, row: Any, inst: Instrument) -> OpenSession:
    tz = inst.timezone
    ident = row.session_identifier
    local = _local_heartbeat(ident, tz)
    claimed = open_rule.current_claim(conn, inst.instrument_pid)
    return OpenSession(
        session_identifier=ident,
        instrument=inst,
        user=row.user,
        started=_parse(row.timestamp, tz),
        start_text=row.timestamp,
        last_heartbeat=_latest(_db_heartbeat(conn, ident, tz), local),
        note=_db_note(conn, ident),
        hostname=claimed.hostname
        if claimed is not None and claimed.session_identifier == ident
        else None,
    )


def find_open_session(instrument_pid: str, *, engine: EngineLike = None) -> OpenSession | None:
    """The open session of an instrument (latest START without END), or None.

    Comes with its last heartbeat (the later of the database's and this PC's local file) and
    its note. Writes nothing: *Continue* in the resume dialog is just this.
    """
    eng = get_engine(engine)
    require_usable(eng)
    inst = _instrument(eng, clean_instrument(instrument_pid))
    with read_connection(eng) as conn:
        row = _open_start_row(conn, inst.instrument_pid)
        return _open_session(conn, row, inst) if row is not None else None


# --------------------------------------------------------------------------------------------
# Start


def _start_in_transaction(
    conn: Connection,
    inst: Instrument,
    *,
    user: str,
    note: str | None,
    stamp: str,
    ident: str,
    explicit_identifier: bool,
    ends_at: datetime | None = None,
    live: bool = False,
) -> StartResult:
    """Check the instrument is free and write START and its claim (see :mod:`open_rule`).

    ``live``: the START is "now", read here under the lock (so after any END that committed
    before it), and never before the instrument's last recorded END.
    """
    pid = inst.instrument_pid
    lock_instrument(conn, pid)
    if explicit_identifier:
        existing = _start_rows(conn, ident)
        if existing:
            _logger.info("START %s is already in the database; nothing written", ident)
            row = existing[0]
            if row.instrument != pid:
                inst = _instrument(conn.engine, row.instrument)
            view = _RowView(ident, row.user, row.timestamp)
            return StartResult(_open_session(conn, view, inst), created=False)
    rows = open_rule.open_start_rows(conn, pid)
    claimed = open_rule.claim_row(conn, pid)  # read once, used three times below
    open_rule.drop_stale_claim(conn, pid, {r.session_identifier for r in rows}, claimed)
    if rows:
        return StartResult(_open_session(conn, rows[0], inst), created=False)
    if live:
        stamp = _live_start(conn, pid, inst.timezone, claimed)
    started = _parse(stamp, inst.timezone)
    if not live:  # a given time (a START kept on a PC, --at) may lie before sessions since
        others = open_rule.overlapping_sessions(
            conn, pid, inst.timezone, started, ends_at, exclude=ident
        )
        if others:
            raise SessionsOverlap(
                f"A session starting at {stamp} on {pid} would overlap "
                f"{describe_sessions(others)}; nothing was written. Give a start time after "
                "those sessions ended.",
                others,
            )
    conn.execute(
        _INSERT_EVENT,
        {
            "session_identifier": ident,
            "instrument": pid,
            "timestamp": stamp,
            "event_type": _START,
            "record_status": _WAITING,
            "user": user,
        },
    )
    host = this_host()
    ensure_in_transaction(conn, [claim_table])
    open_rule.claim(
        conn,
        instrument_pid=pid,
        session_identifier=ident,
        user=user,
        started=stamp,
        hostname=host,
        row=claimed,
    )
    if note:
        conn.execute(insert(note_table).values(session_identifier=ident, note=note, updated=stamp))
    session = OpenSession(
        session_identifier=ident,
        instrument=inst,
        user=user,
        started=started,
        start_text=stamp,
        note=note,
        hostname=host,
    )
    return StartResult(session, created=True)


def _live_start(conn: Connection, pid: str, tz: str, claimed: Any) -> str:
    """Now, or the instrument's last END if that is later (a clock behind another PC's).

    ``claimed``: the instrument's claim row, read under the lock in this transaction.
    """
    now = timestamps.now_in(tz)
    ended = open_rule.last_end(conn, pid, tz, claimed)
    if ended is not None and ended > now:
        _logger.info(
            "START on %s at the previous session's end (%s), %.1f s after this PC's clock",
            pid,
            ended.isoformat(),
            (ended - now).total_seconds(),
        )
        now = ended.astimezone(timestamps.zone(tz))
    return timestamps.to_db(now, tz)


def describe_sessions(sessions: list[LoggedSession]) -> str:
    """ "session X (user u, A to B)" for each, for messages."""
    return "; ".join(
        f"session {o.session_identifier} (user {o.user}, {o.start_text} to {o.end_text or 'open'})"
        for o in sessions
    )


@dataclass(frozen=True)
class _RowView:
    session_identifier: str
    user: str | None
    timestamp: str


def start_session(
    *,
    instrument: str,
    user: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    session_identifier: str | None = None,
    engine: EngineLike = None,
    rules: TimeRules = DEFAULT_RULES,
    ends_at: datetime | None = None,
) -> StartResult:
    """Write a START (WAITING_FOR_END) unless a session is already open on the instrument.

    ``user`` defaults to the OS login. The START gets a new uuid4 identifier and the current
    time (aware, in the instrument's zone). If a session is already open on the instrument,
    nothing is written and that session comes back with ``created=False`` (its note is kept;
    ``note`` is then ignored). Everything is checked before anything is written: a time in
    the future or implausibly old (:mod:`time_rules`), a START with a given time overlapping a
    session that finished meanwhile (:class:`SessionsOverlap`).

    ``session_identifier`` and ``at`` let the outbox send a START kept on this PC with its
    original identifier and time; a START with that identifier already present is a no-op that
    returns ``created=False``. ``ends_at``: the session's END when it is already known (it
    waits on this PC too), which bounds the overlap check. (The back-fill limit is for times a person types: the CLI and
    the window check it, through :class:`~nexus_logger.core.offline.durable.DurableLogger`.)
    """
    eng = get_engine(engine)
    require_usable(eng)
    pid = clean_instrument(instrument)
    name = clean_user(default_user() if user is None else user)
    text = clean_note(note)
    explicit = session_identifier is not None
    ident = _clean_identifier(session_identifier) if explicit else str(uuid.uuid4())
    inst = _instrument(eng, pid)
    stamp = _stamp(at, inst.timezone, "start time")
    if at is not None:
        rules.check(_parse(stamp, inst.timezone), "start time", typed=False)
    if text:
        ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        result = _start_in_transaction(
            conn,
            inst,
            user=name,
            note=text,
            stamp=stamp,
            ident=ident,
            explicit_identifier=explicit,
            ends_at=ends_at,
            live=at is None,
        )
    if result.created:
        _logger.info("Started session %s on %s for %s at %s", ident, pid, name, stamp)
    else:
        s = result.session
        _logger.info(
            "Not started on %s: session %s of %s (since %s) is open",
            pid,
            s.session_identifier,
            s.user,
            s.start_text,
        )
    return result


# --------------------------------------------------------------------------------------------
# End


def end_in_transaction(
    conn: Connection,
    *,
    session_identifier: str,
    at: datetime | None,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
    instrument_pid: str | None = None,
) -> EndedSession:
    """The END logic on an already-open write transaction (see :func:`end_session`).

    ``instrument_pid``: the session's instrument, when the caller knows it; its lock is then
    taken before the session's rows are read, which saves reading them twice on PostgreSQL.

    Inserts END (WAITING_FOR_END, the START's user), then sets START and END to TO_BE_BUILT
    with one UPDATE whose row count must be exactly what was read under the lock; any
    difference raises :class:`Conflict`, and the caller's transaction rolls everything back.

    A session that already has an END is not ended twice: it comes back with
    ``already_ended=True``. If that END was left half-done by the original logger (END
    written, statuses still WAITING_FOR_END, same user), the status change is finished here.
    Used by :func:`end_session`, the outbox replay and the admin force-end, so that an audit
    row can commit in the same transaction.
    """
    ident = _clean_identifier(session_identifier)
    if instrument_pid is not None and conn.dialect.name == "postgresql":
        lock_instrument(conn, instrument_pid)
    starts, ends = _start_and_end_rows(conn, ident)
    if not starts:
        raise NotFound(f"There is no session {ident} in the database {_sessions_db(conn)}.")
    pid = starts[0].instrument
    if conn.dialect.name == "postgresql" and not holds_instrument_lock(conn, pid):
        lock_instrument(conn, pid)
        # Read again under the lock: READ COMMITTED may have seen the rows before another
        # writer's commit. (SQLite's BEGIN IMMEDIATE held the write lock from the start.)
        starts, ends = _start_and_end_rows(conn, ident)
    start = starts[0]
    inst = _instrument(conn.engine, pid)
    tz = inst.timezone
    started = _parse(start.timestamp, tz)
    waiting_starts = sum(1 for s in starts if s.record_status == _WAITING)
    if ends:
        waiting_ends = [e for e in ends if e.record_status == _WAITING]
        if waiting_starts and waiting_ends:
            if any(e.user != start.user for e in waiting_ends):
                raise Conflict(
                    f"Session {ident} has an unfinished END whose user differs from its START "
                    f"({start.user!r}); NexusLIMS could not pair them. An administrator must fix "
                    "the END's user."
                )
            _queue_rows(conn, ident, waiting_starts + len(waiting_ends))
            _logger.warning("Finished the half-done END of session %s", ident)
        open_rule.release(conn, ident, ends[-1].timestamp)
        return EndedSession(
            ident,
            inst,
            start.user,
            started,
            _parse(ends[-1].timestamp, tz),
            already_ended=True,
        )
    if start.record_status not in ENDABLE:
        raise Conflict(
            f"Session {ident} has no END but its START is already {start.record_status}; "
            "it cannot be ended. An administrator must look at it."
        )
    stamp = _stamp(at, tz, "end time")
    ended = _parse(stamp, tz)
    check_end_time(ended, started, stamp=stamp, start_text=start.timestamp, rules=rules)
    if typed:
        rules.check(ended, "end time", typed=True)
    conn.execute(
        _INSERT_EVENT,
        {
            "session_identifier": ident,
            "instrument": pid,
            "timestamp": stamp,
            "event_type": _END,
            "record_status": _WAITING,
            "user": start.user,
        },
    )
    hook = _between_end_insert_and_status_update
    if hook is not None:
        hook(conn)
    _queue_rows(conn, ident, waiting_starts + 1)
    open_rule.release(conn, ident, stamp)
    return EndedSession(ident, inst, start.user, started, ended)


def check_end_time(
    ended: datetime,
    started: datetime,
    *,
    stamp: str,
    start_text: str,
    rules: TimeRules = DEFAULT_RULES,
) -> None:
    """Refuse an end before the start, or more than the clock-skew tolerance in the future.

    ``stamp`` and ``start_text`` are the end and start as stored, for the message. Used by
    :func:`end_in_transaction` and by the admin force-end's preview. (The back-fill limit is
    for times a person types; the caller checks it where it has one.)
    """
    if ended < started:
        raise InvalidInput(
            f"The end time {stamp} is before the session started ({start_text}). "
            "Give a later end time."
        )
    if ended > datetime.now(UTC) + rules.skew:
        # NexusLIMS would build a record reaching into the future, with other users' files.
        raise InvalidInput(
            f"The end time {stamp} is in the future. Give the time the session really ended "
            "(now at the latest)."
        )


def _queue_rows(conn: Connection, ident: str, expected: int) -> None:
    """Set the WAITING_FOR_END START/END rows of ``ident`` to TO_BE_BUILT; exactly ``expected``."""
    result = conn.execute(_QUEUE, {"ident": ident})
    if result.rowcount != expected:
        raise Conflict(
            f"Ending session {ident} would have changed {result.rowcount} rows instead of "
            f"{expected}; nothing was written. Someone else changed the session at the same "
            "time: look at it and try again."
        )


def end_session(
    *,
    instrument: str | None = None,
    session_identifier: str | None = None,
    at: datetime | None = None,
    engine: EngineLike = None,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
) -> EndedSession:
    """Insert END with the START's user and set START and END to TO_BE_BUILT in one transaction.

    Ends the session named by ``session_identifier``, or else the open session of
    ``instrument`` (:class:`NoOpenSession` when there is none). ``at`` is the end time
    (default now; naive means the instrument's zone); it may not be before the start, nor
    further in the future than ``rules`` allow (with ``typed``, a time a person gave: nor older
    than their back-fill limit). After this, NexusLIMS's ``get_sessions_to_build()`` returns
    the session.
    """
    eng = get_engine(engine)
    require_usable(eng)
    if session_identifier is None and instrument is None:
        raise InvalidInput("Say which session to end: give the instrument or the session.")
    pid = clean_instrument(instrument) if instrument is not None else None
    if pid is not None:
        _instrument(eng, pid)
    ident = _clean_identifier(session_identifier) if session_identifier is not None else None
    with write_transaction(eng) as conn:
        if ident is None:
            assert pid is not None
            lock_instrument(conn, pid)
            row = _open_start_row(conn, pid)
            if row is None:
                raise NoOpenSession(
                    f"No session is open on {pid}; there is nothing to end. "
                    "('nexus-logger session status' shows the instrument's state.)"
                )
            ident = row.session_identifier
        ended = end_in_transaction(
            conn, session_identifier=ident, at=at, rules=rules, typed=typed, instrument_pid=pid
        )
        if pid is not None and ended.instrument.instrument_pid != pid:
            raise InvalidInput(
                f"Session {ident} belongs to {ended.instrument.instrument_pid}, not {pid}; "
                "nothing was changed."
            )
    _forget_local_heartbeat(ident)
    if not ended.already_ended:
        _logger.info(
            "Ended session %s on %s (%s), %.0f s",
            ident,
            ended.instrument.instrument_pid,
            ended.user,
            ended.duration_seconds,
        )
    return ended


def replace_session(
    *,
    old_session_identifier: str,
    end_at: datetime,
    instrument: str,
    user: str | None,
    note: str | None = None,
    engine: EngineLike = None,
    rules: TimeRules = DEFAULT_RULES,
) -> StartResult:
    """End the old session at ``end_at`` and start a new one now, in one transaction.

    "End it and start a new one" in the resume dialog: ``end_at`` is now or the old session's
    last heartbeat. Either both happen or neither does. ``user=None`` means the OS login.
    """
    eng = get_engine(engine)
    require_usable(eng)
    pid = clean_instrument(instrument)
    name = clean_user(default_user() if user is None else user)
    text = clean_note(note)
    old = _clean_identifier(old_session_identifier)
    inst = _instrument(eng, pid)
    stamp = _stamp(None, inst.timezone)
    if timestamps.parse(_stamp(end_at, inst.timezone)) > timestamps.parse(stamp):
        raise InvalidInput(
            "The old session cannot end after the new one starts; choose an end time up to now."
        )
    if text:
        ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        lock_instrument(conn, pid)
        ended = end_in_transaction(conn, session_identifier=old, at=end_at, rules=rules)
        if ended.instrument.instrument_pid != pid:
            raise InvalidInput(
                f"Session {old} belongs to {ended.instrument.instrument_pid}, not {pid}; "
                "nothing was changed."
            )
        result = _start_in_transaction(
            conn,
            inst,
            user=name,
            note=text,
            stamp=stamp,
            ident=str(uuid.uuid4()),
            explicit_identifier=False,
        )
    _forget_local_heartbeat(old)
    _logger.info(
        "Replaced session %s (ended %s) by %s on %s",
        old,
        ended.ended.isoformat(),
        result.session.session_identifier,
        pid,
    )
    return result


# --------------------------------------------------------------------------------------------
# Heartbeat


def heartbeat_file() -> Path:
    """The local heartbeat file of this PC (JSON, rewritten atomically)."""
    return paths.data_dir() / "heartbeat.json"


def _read_local() -> dict[str, dict[str, Any]]:
    path = heartbeat_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _logger.warning("Local heartbeat file %s unreadable (%s); ignoring it", path, err)
        return {}
    sessions = data.get("sessions") if isinstance(data, dict) else None
    return sessions if isinstance(sessions, dict) else {}


@contextlib.contextmanager
def _local_file_locked() -> Iterator[None]:
    path = heartbeat_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=10):
        yield


def _write_local(sessions: dict[str, dict[str, Any]]) -> None:
    path = heartbeat_file()
    payload = json.dumps({"version": 1, "sessions": sessions}, indent=1, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".heartbeat-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        for attempt in range(5):  # Windows refuses to replace a file another process reads
            try:
                os.replace(tmp, path)
                break
            except PermissionError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _update_local(ident: str, entry: dict[str, Any] | None) -> None:
    """Set (or with ``None`` remove) one session's entry; old entries are pruned."""
    try:
        with _local_file_locked():
            sessions = _read_local()
            if entry is None:
                if sessions.pop(ident, None) is None:
                    return
            else:
                # Who started it and when stay known across heartbeats (see open_here).
                old = sessions.get(ident)
                sessions[ident] = {**(old if isinstance(old, dict) else {}), **entry}
            cutoff = timestamps.now_in("UTC") - _LOCAL_HEARTBEAT_KEEP
            for key in list(sessions):
                try:
                    seen = sessions[key].get("last_alive") or sessions[key]["started"]
                    if timestamps.parse(seen) < cutoff:
                        del sessions[key]
                except (KeyError, TypeError, timestamps.TimestampError):
                    del sessions[key]
            _write_local(sessions)
    except (OSError, FileLockTimeout) as err:
        _logger.warning("Could not update the local heartbeat file %s: %s", heartbeat_file(), err)


def _forget_local_heartbeat(ident: str) -> None:
    # Most sessions ended here have no local entry (ended from another process, or within a
    # minute of their start): look before taking the file lock and rewriting the file. An
    # entry a concurrent heartbeat adds after this look is dropped with the old entries later.
    if ident in _read_local():
        _update_local(ident, None)


def remember_open_here(session: OpenSession) -> None:
    """Note in this PC's local file that ``session`` runs here (its user, start and zone).

    What lets this PC end its own session while the database cannot be reached: the window
    and ``session end`` then find it with :func:`open_here`. Removed when the session ends.
    """
    inst = session.instrument
    entry = {
        "instrument": inst.instrument_pid,
        "timezone": inst.timezone,
        "hostname": this_host(),
        "user": session.user,
        "started": session.start_text,
    }
    if session.last_heartbeat is not None:
        entry["last_alive"] = session.last_heartbeat.isoformat()
    _update_local(session.session_identifier, entry)


def forget_open_here(session_identifier: str) -> None:
    """Drop a session from this PC's local file (it ended)."""
    _forget_local_heartbeat(session_identifier)


def open_here(instrument_pid: str) -> list[tuple[str, dict[str, Any]]]:
    """Sessions this PC's local file says run here on the instrument, latest alive last.

    Only entries written by :func:`remember_open_here` (they know the user and the start).
    """
    found = [
        (ident, entry)
        for ident, entry in _read_local().items()
        if isinstance(entry, dict)
        and entry.get("instrument") == instrument_pid
        and entry.get("started")
    ]
    return sorted(found, key=lambda item: str(item[1].get("last_alive") or item[1]["started"]))


def local_heartbeat(session_identifier: str, tz: str | None = None) -> datetime | None:
    """The last-alive time this PC's local file holds for a session (None if none).

    Known even while the database is away, so an abandoned session can still be closed at
    the time it was really last alive.
    """
    return _local_heartbeat(session_identifier, tz)


def _local_heartbeat(ident: str, tz: str | None = None) -> datetime | None:
    entry = _read_local().get(ident)
    if not isinstance(entry, dict):
        return None
    try:
        return _parse(entry["last_alive"], tz or entry.get("timezone"))
    except (KeyError, TypeError, timestamps.TimestampError):
        return None


def record_local_heartbeat(session_identifier: str, instrument: Instrument) -> datetime:
    """Record in this PC's local file only that the session is alive now; returns that time.

    For a caller that already knows the database is away, or that the session's START is still
    waiting in the outbox: the local file then keeps the real last-alive time until the
    database can be written again (:func:`last_heartbeat` reads both).
    """
    ident = _clean_identifier(session_identifier)
    now = timestamps.now_in(instrument.timezone)
    _update_local(
        ident,
        {
            "instrument": instrument.instrument_pid,
            "timezone": instrument.timezone,
            "last_alive": now.isoformat(),
            "hostname": this_host(),
        },
    )
    return now


def record_heartbeat(
    session_identifier: str,
    *,
    engine: EngineLike = None,
    instrument: Instrument | None = None,
) -> datetime:
    """Record that the session is alive now; returns that time (aware, instrument's zone).

    Written to ``nexus_logger_heartbeat`` and to this PC's local heartbeat file. When the
    database cannot be reached, the local file alone is updated (the time is still returned,
    and a warning logged): it is what lets a PC that lost the network know when its session
    was really last alive. ``instrument`` gives the time zone in that case for a session the
    local file does not know yet. A session that has ended is refused with :class:`Conflict`.
    """
    ident = _clean_identifier(session_identifier)
    known = _read_local().get(ident) or {}
    pid: str | None = instrument.instrument_pid if instrument else known.get("instrument")
    tz: str | None = instrument.timezone if instrument else known.get("timezone")
    try:
        eng = get_engine(engine)
        require_usable(eng)
        ensure_tables(eng, [heartbeat_table])
        with write_transaction(eng) as conn:
            starts, ends = _start_and_end_rows(conn, ident)
            if not starts:
                raise NotFound(f"There is no session {ident} in the database {describe(eng)}.")
            if ends:
                raise Conflict(f"Session {ident} has ended; it has no heartbeat any more.")
            pid = starts[0].instrument
            tz = _instrument(eng, pid).timezone
            now = timestamps.now_in(tz)
            values = {
                "session_identifier": ident,
                "instrument": pid,
                "last_alive": timestamps.to_db(now, tz),
                "hostname": this_host()[:255],
            }
            owner = {"user": starts[0].user, "started": starts[0].timestamp}
            conn.execute(_upsert(conn, heartbeat_table, values, "session_identifier"))
    except DatabaseUnavailable as err:
        if pid is None:
            raise
        now = timestamps.now_in(tz)
        owner = {}
        _logger.warning("Heartbeat of %s kept on this PC only: %s", ident, err)
    except Conflict:
        _forget_local_heartbeat(ident)
        raise
    _update_local(
        ident,
        {
            "instrument": pid,
            "timezone": tz,
            "last_alive": now.isoformat(),
            "hostname": this_host(),
            **owner,
        },
    )
    return now


def _upsert(conn: Connection, table: Any, values: dict[str, Any], key: str) -> Any:
    # Imported here: SQLite's processes (the CLI, the window) need not load PostgreSQL's dialect.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect
    else:
        from sqlalchemy.dialects import sqlite as dialect
    stmt = dialect.insert(table).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=[key], set_={k: v for k, v in values.items() if k != key}
    )


def last_heartbeat(session_identifier: str, *, engine: EngineLike = None) -> datetime | None:
    """When the session was last known alive: the later of the database and the local file.

    Falls back to the local file alone when the database cannot be reached.
    """
    ident = _clean_identifier(session_identifier)
    from_db: datetime | None = None
    tz: str | None = None
    try:
        eng = get_engine(engine)
        require_usable(eng)
        with read_connection(eng) as conn:
            starts = _start_rows(conn, ident)
            if starts:
                tz = _instrument(eng, starts[0].instrument).timezone
                from_db = _db_heartbeat(conn, ident, tz)
    except DatabaseUnavailable as err:
        _logger.warning("Last heartbeat of %s from this PC only: %s", ident, err)
    return _latest(from_db, _local_heartbeat(ident, tz))


# --------------------------------------------------------------------------------------------
# Notes


def set_note(session_identifier: str, text: str | None, *, engine: EngineLike = None) -> None:
    """Set the note of a session (blank text removes it); refused once the session has ended.

    Runs under the instrument's lock, so a note cannot slip in after a concurrent END.
    """
    ident = _clean_identifier(session_identifier)
    value = clean_note(text)
    eng = get_engine(engine)
    require_usable(eng)
    ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        starts = _start_rows(conn, ident)
        if not starts:
            raise NotFound(f"There is no session {ident} in the database {describe(eng)}.")
        lock_instrument(conn, starts[0].instrument)
        if _start_and_end_rows(conn, ident)[1]:  # read under the lock
            raise InvalidInput(f"Session {ident} has ended; its note can no longer be changed.")
        if value is None:
            conn.execute(delete(note_table).where(note_table.c.session_identifier == ident))
            return
        tz = _instrument(eng, starts[0].instrument).timezone
        values = {"session_identifier": ident, "note": value, "updated": _stamp(None, tz)}
        conn.execute(_upsert(conn, note_table, values, "session_identifier"))


def write_note_in_transaction(
    conn: Connection, session_identifier: str, text: str | None, tz: str
) -> None:
    """Store a session's note inside the caller's write transaction (blank text: nothing).

    The outbox uses it so that a note typed while the database was away is written together
    with the END that carries it. The note table must exist (``ensure_tables``).
    """
    value = clean_note(text)
    if value is None:
        return
    values = {
        "session_identifier": _clean_identifier(session_identifier),
        "note": value,
        "updated": _stamp(None, tz),
    }
    conn.execute(_upsert(conn, note_table, values, "session_identifier"))


def get_note(session_identifier: str, *, engine: EngineLike = None) -> str | None:
    """The note of a session, or None."""
    ident = _clean_identifier(session_identifier)
    eng = get_engine(engine)
    require_usable(eng)
    with read_connection(eng) as conn:
        return _db_note(conn, ident)
