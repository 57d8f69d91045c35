"""Starting a session: the START row and its claim, written in one transaction under the
instrument's lock unless a session is already open there (then that session is the answer)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, get_engine, write_transaction
from nexus_logger.core.db.instrument_lock import lock_instrument
from nexus_logger.core.db.logger_tables import ensure_in_transaction, ensure_tables
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.logger_tables import open_session as claim_table
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.db.pipeline import send_together
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.inputs import (
    clean_identifier,
    clean_note,
    session_user,
    stored_in_zone,
    stored_time,
)
from nexus_logger.core.sessions.instrument_lookup import known_instrument
from nexus_logger.core.sessions.outcomes import (
    OpenSession,
    SessionsOverlap,
    StartResult,
    describe_sessions,
)
from nexus_logger.core.sessions.session_rows import (
    INSERT_EVENT,
    RowView,
    open_session_of,
    start_rows,
)
from nexus_logger.core.sessions.station import this_host
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules
from nexus_logger.core.validation import clean_instrument

_logger = logging.getLogger(__name__)

__all__ = ["start_in_transaction", "start_session"]

_START = EventType.START.value
_WAITING = RecordStatus.WAITING_FOR_END.value
_INSERT_NOTE = insert(note_table)


def start_in_transaction(
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
    asked_at: datetime | None = None,
) -> StartResult:
    """Check the instrument is free and write START and its claim (see :mod:`open_rule`).

    ``live``: the START is "now" (or ``asked_at``, when the person asked for it), read here
    under the lock, and never before the instrument's last recorded END (so after any END
    that committed before it).
    """
    pid = inst.instrument_pid
    if explicit_identifier:  # (a START sent again from the outbox: rare)
        lock_instrument(conn, pid)
        already = _already_written(conn, inst, ident)
        if already is not None:
            return already
    # The claim row is read once and used three times below.
    rows, claimed = open_rule.check_under_lock(conn, pid)
    open_rule.drop_stale_claim(conn, pid, {r.session_identifier for r in rows}, claimed)
    if rows:
        return StartResult(open_session_of(conn, rows[0], inst), created=False)
    if live:
        stamp = _live_start(conn, pid, inst.timezone, claimed, asked_at)
    started = stored_in_zone(stamp, inst.timezone)
    if not live:  # a given time (a START kept on a PC, --at) may lie before sessions since
        _refuse_overlap(conn, inst, started, ends_at, ident=ident, stamp=stamp)
    return _write_start(
        conn, inst, user=user, note=note, stamp=stamp, started=started, ident=ident, row=claimed
    )


def _already_written(conn: Connection, inst: Instrument, ident: str) -> StartResult | None:
    """The session of a START whose identifier is already in the database (None: it is not).

    A START sent again from the outbox after a crash writes nothing the second time.
    """
    existing = start_rows(conn, ident)
    if not existing:
        return None
    _logger.info("START %s is already in the database; nothing written", ident)
    row = existing[0]
    if row.instrument != inst.instrument_pid:
        inst = known_instrument(conn.engine, row.instrument)
    view = RowView(ident, row.user, row.timestamp)
    return StartResult(open_session_of(conn, view, inst), created=False)


def _refuse_overlap(
    conn: Connection,
    inst: Instrument,
    started: datetime,
    ends_at: datetime | None,
    *,
    ident: str,
    stamp: str,
) -> None:
    """:class:`SessionsOverlap` when a START at a given time would overlap finished sessions."""
    pid = inst.instrument_pid
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


def _write_start(
    conn: Connection,
    inst: Instrument,
    *,
    user: str,
    note: str | None,
    stamp: str,
    started: datetime,
    ident: str,
    row: Any,
) -> StartResult:
    """Insert the START row, the instrument's claim (``row``: as read) and the note: one
    round trip on PostgreSQL (the claim table is made first if it is missing)."""
    pid = inst.instrument_pid
    host = this_host()
    ensure_in_transaction(conn, [claim_table])
    start_row = {
        "session_identifier": ident,
        "instrument": pid,
        "timestamp": stamp,
        "event_type": _START,
        "record_status": _WAITING,
        "user": user,
    }
    claim = open_rule.claim_statement(
        instrument_pid=pid,
        session_identifier=ident,
        user=user,
        started=stamp,
        hostname=host,
        row=row,
    )
    writes = [(INSERT_EVENT, start_row), claim]
    if note:
        writes.append((_INSERT_NOTE, {"session_identifier": ident, "note": note, "updated": stamp}))
    open_rule.check_claimed(pid, send_together(conn, writes)[1].rowcount)
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


#: Seconds a START "now" may have waited (for the lock, or the steps before it) and still take
#: the moment the lock was had: below that, the moment asked changes nothing for NexusLIMS's
#: file search, and the START costs no extra query.
WAITED = 1.0


def _live_start(
    conn: Connection, pid: str, tz: str, claimed: Any, asked_at: datetime | None
) -> str:
    """Now (or ``asked_at``), or the instrument's last END if that is later (a clock behind
    another PC's, or a session that ended while this START waited for the lock).

    ``claimed``: the instrument's claim row, read under the lock in this transaction.
    ``asked_at``: when the person asked (the window's launch, the command's start): a START
    read only once a locked database let go began that much later than the session, and
    NexusLIMS would not have taken the files of those first seconds. Used when the wait was
    longer than :data:`WAITED`; then also never before the END of any session that finished
    since (the claim's last END misses some: a whole session sent from a PC's outbox, a
    force-end, another program), so that the START overlaps none.
    """
    now = timestamps.now_in(tz)
    if asked_at is not None and timestamps.seconds_between(asked_at, now) > WAITED:
        asked = asked_at.astimezone(timestamps.zone(tz))
        since = open_rule.overlapping_sessions(conn, pid, tz, asked, now, exclude="")
        ends = [timestamps.parse_or_none(s.end_text, tz) for s in since]
        now = max([asked, *(e for e in ends if e is not None and e < now)])
    ended = open_rule.last_end(conn, pid, tz, claimed)
    if ended is not None and timestamps.seconds_between(now, ended) > 0:
        _logger.info(
            "START on %s at the previous session's end (%s), %.1f s after this PC's clock",
            pid,
            ended.isoformat(),
            (ended - now).total_seconds(),
        )
        now = ended.astimezone(timestamps.zone(tz))
    return timestamps.to_db(now, tz)


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
    asked_at: datetime | None = None,
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
    ``asked_at`` (without ``at``): when the person asked for the START, used instead of the
    moment the lock was had (see ``_live_start``).
    """
    eng = get_engine(engine)
    require_usable(eng)
    pid = clean_instrument(instrument)
    name = session_user(user)
    text = clean_note(note)
    explicit = session_identifier is not None
    ident = clean_identifier(session_identifier) if explicit else str(uuid.uuid4())
    inst = known_instrument(eng, pid)
    stamp = stored_time(at, inst.timezone, "start time")
    if at is not None:
        rules.check(stored_in_zone(stamp, inst.timezone), "start time", typed=False)
    if text:
        ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        result = start_in_transaction(
            conn,
            inst,
            user=name,
            note=text,
            stamp=stamp,
            ident=ident,
            explicit_identifier=explicit,
            ends_at=ends_at,
            live=at is None,
            asked_at=asked_at if at is None else None,
        )
    _log_start(result, pid=pid, user=name)
    return result


def _log_start(result: StartResult, *, pid: str, user: str) -> None:
    """One log line: the START written (its stored time: a START "now" takes its time under
    the lock), or the open session that stopped it."""
    if result.created:
        _logger.info(
            "Started session %s on %s for %s at %s",
            result.session.session_identifier,
            pid,
            user,
            result.session.start_text,
        )
    else:
        s = result.session
        _logger.info(
            "Not started on %s: session %s of %s (since %s) is open",
            pid,
            s.session_identifier,
            s.user,
            s.start_text,
        )
