"""A session's heartbeat and note in the database: the logger-owned tables
``nexus_logger_heartbeat`` (last alive, also kept in this PC's local file) and
``nexus_logger_note``. Neither can change once the session has ended."""

from __future__ import annotations

import logging
from datetime import datetime
from types import EllipsisType
from typing import Any

from sqlalchemy import Connection, Engine, delete

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.instrument_lock import lock_instrument
from nexus_logger.core.db.logger_tables import ensure_tables
from nexus_logger.core.db.logger_tables import heartbeat as heartbeat_table
from nexus_logger.core.db.logger_tables import note as note_table
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NoteChanged,
    NotFound,
    SessionEnded,
)
from nexus_logger.core.sessions.inputs import clean_identifier, clean_note, stored_time
from nexus_logger.core.sessions.instrument_lookup import known_instrument
from nexus_logger.core.sessions.local_heartbeat import (
    forget_open_here,
    local_heartbeat,
    read_local_file,
    update_local_file,
)
from nexus_logger.core.sessions.session_rows import (
    db_heartbeat,
    db_note,
    latest,
    start_and_end_rows,
    start_rows,
)
from nexus_logger.core.sessions.station import this_host

_logger = logging.getLogger(__name__)

__all__ = [
    "get_note",
    "last_heartbeat",
    "record_heartbeat",
    "set_note",
    "stored_end",
    "write_note_in_transaction",
]


def record_heartbeat(
    session_identifier: str,
    *,
    engine: EngineLike = None,
    instrument: Instrument | None = None,
) -> datetime:
    """Record that the session is alive now; returns that time (aware, instrument's zone).

    Written to ``nexus_logger_heartbeat`` and to this PC's local heartbeat file. When the
    database cannot be reached, :class:`~nexus_logger.core.errors.DatabaseUnavailable` is
    raised and the caller keeps the time with
    :func:`~nexus_logger.core.sessions.local_heartbeat.record_local_heartbeat` (the local file
    is what lets a PC that lost the network know when its session was really last alive);
    keeping it here and returning said "alive" as if the database had it. A session that has
    ended is refused with :class:`~nexus_logger.core.errors.SessionEnded`, which carries its
    END time.
    """
    ident = clean_identifier(session_identifier)
    known = read_local_file().get(ident) or {}
    # (the zone a refusal's END time is told in, should the database not say)
    tz: str | None = instrument.timezone if instrument else known.get("timezone")
    try:
        eng = get_engine(engine)
        require_usable(eng)
        ensure_tables(eng, [heartbeat_table])
        with write_transaction(eng) as conn:
            starts, ends = start_and_end_rows(conn, ident)
            if not starts:
                raise NotFound(f"There is no session {ident} in the database {describe(eng)}.")
            if ends:
                raise SessionEnded(
                    f"Session {ident} has ended; it has no heartbeat any more.",
                    _end_time(eng, starts[0], ends, tz),
                )
            pid = starts[0].instrument
            tz = known_instrument(eng, pid).timezone
            now = timestamps.now_in(tz)
            values = {
                "session_identifier": ident,
                "instrument": pid,
                "last_alive": timestamps.to_db(now, tz),
                "hostname": this_host()[:255],
            }
            owner = {"user": starts[0].user, "started": starts[0].timestamp}
            conn.execute(_upsert(conn, heartbeat_table, values, "session_identifier"))
    except Conflict:
        forget_open_here(ident)
        raise
    update_local_file(
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


def stored_end(session_identifier: str, *, engine: EngineLike = None) -> datetime | None:
    """The time of the session's END as stored (the one NexusLIMS pairs with its START);
    ``None`` when that time cannot be read. Raises :class:`NotFound` when it has no END.

    What an END kept on a PC and sent later can be compared with: the outbox skips an END
    when the session was ended elsewhere meanwhile, and that END is the one that counts.
    """
    ident = clean_identifier(session_identifier)
    eng = get_engine(engine)
    require_usable(eng)
    with read_connection(eng) as conn:
        starts, ends = start_and_end_rows(conn, ident)
    if not starts or not ends:
        raise NotFound(f"Session {ident} has no END in the database {describe(eng)}.")
    return _end_time(eng, starts[0], ends, None)


def _end_time(eng: Engine, start: Any, ends: list[Any], tz: str | None) -> datetime | None:
    """The time of the END NexusLIMS pairs with ``start`` (the newest of its instrument and
    user; else the newest END at all), read in the instrument's zone; ``None`` if unreadable."""
    own = [e for e in ends if e.instrument == start.instrument and e.user == start.user]
    try:
        tz = known_instrument(eng, start.instrument).timezone
    except NotFound:
        pass  # an instrument NexusLIMS does not know: the zone this PC has for it
    return timestamps.parse_or_none((own or ends)[-1].timestamp, tz)


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
    ident = clean_identifier(session_identifier)
    from_db: datetime | None = None
    tz: str | None = None
    try:
        eng = get_engine(engine)
        require_usable(eng)
        with read_connection(eng) as conn:
            starts = start_rows(conn, ident)
            if starts:
                tz = known_instrument(eng, starts[0].instrument).timezone
                from_db = db_heartbeat(conn, ident, tz)
    except DatabaseUnavailable as err:
        _logger.warning("Last heartbeat of %s from this PC only: %s", ident, err)
    return latest(from_db, local_heartbeat(ident, tz))


def set_note(
    session_identifier: str,
    text: str | None,
    *,
    engine: EngineLike = None,
    expected: str | None | EllipsisType = ...,
) -> None:
    """Set the note of a session (blank text removes it); refused once the session has ended.

    Runs under the instrument's lock, so a note cannot slip in after a concurrent END.
    ``expected``: the note as the caller last read it (``None``: none). When the stored note
    is another, nothing is written and :class:`~nexus_logger.core.errors.NoteChanged` says
    what it is: two windows on one session (a login continuing another's) must not overwrite
    each other's note unseen. Left out, the note is replaced whatever it was.
    """
    ident = clean_identifier(session_identifier)
    value = clean_note(text)
    eng = get_engine(engine)
    require_usable(eng)
    ensure_tables(eng, [note_table])
    with write_transaction(eng) as conn:
        starts = start_rows(conn, ident)
        if not starts:
            raise NotFound(f"There is no session {ident} in the database {describe(eng)}.")
        lock_instrument(conn, starts[0].instrument)
        if start_and_end_rows(conn, ident)[1]:  # read under the lock
            raise InvalidInput(f"Session {ident} has ended; its note can no longer be changed.")
        if expected is not ...:
            current = db_note(conn, ident)
            if current != clean_note(expected):
                raise NoteChanged(
                    f"The note of session {ident} was changed elsewhere since it was read; "
                    "nothing was written.",
                    current,
                )
        if value is None:
            conn.execute(delete(note_table).where(note_table.c.session_identifier == ident))
            return
        tz = known_instrument(eng, starts[0].instrument).timezone
        values = {"session_identifier": ident, "note": value, "updated": stored_time(None, tz)}
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
        "session_identifier": clean_identifier(session_identifier),
        "note": value,
        "updated": stored_time(None, tz),
    }
    conn.execute(_upsert(conn, note_table, values, "session_identifier"))


def get_note(session_identifier: str, *, engine: EngineLike = None) -> str | None:
    """The note of a session, or None."""
    ident = clean_identifier(session_identifier)
    eng = get_engine(engine)
    require_usable(eng)
    with read_connection(eng) as conn:
        return db_note(conn, ident)
