"""The ``session_handler`` API of NexusLIMS, against any database nexus-logger can open.

Names, signatures and defaults follow ``nexusLIMS.db.session_handler`` (see
``shared/seeds/``) so that scripts written for NexusLIMS work unchanged. Every function also
takes an ``engine`` keyword (an Engine, a path or a URL) so that tools and tests need no global
state; without it the configured database is used.

Differences from NexusLIMS, each deliberate:

* ``get_sessions_to_build`` pairs START and END rows in SQL (NexusLIMS pairs them in a nested
  Python loop that is quadratic) and has ``strict=False`` so one broken row cannot hide every
  other session;
* ``get_all_session_logs`` orders by the instant a timestamp names, not by its text, so rows
  with different UTC offsets (or naive 1.x times) come out in real order;
* datetimes handed out are always timezone-aware; naive stored times are read in the
  instrument's time zone.

Every function and class also accepts NexusLIMS 2.x's own objects (its ``RecordStatus`` and
``EventType`` members or any enum whose value is a valid name, aware ``datetime`` objects where
the reference page says ``str``, its ``Instrument``), see :mod:`nexus_logger.core.coercion`; a
``Session``'s instrument offers what NexusLIMS's record builder uses of its ``Instrument``
(:class:`~nexus_logger.core.session_instrument.SessionInstrument`). Error messages that
NexusLIMS code matches on start with NexusLIMS's own wording.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from enum import Enum
from typing import Any

from sqlalchemy import and_, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from nexus_logger.core import NEXUSLIMS_API, coercion, cycle_collector, timestamps
from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    get_engine,
    is_sqlite,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.instrument_lock import lock_instrument
from nexus_logger.core.db.models import Instrument, session_log
from nexus_logger.core.db.schema import load_instruments, require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import InvalidInput, translate
from nexus_logger.core.session_handler_values import (
    as_text,
    check_status,
    qmark_to_format,
    validated_values,
)
from nexus_logger.core.session_instrument import SessionInstrument
from nexus_logger.core.sessions import pairing, pairing_scan
from nexus_logger.core.sessions_to_build import session_factory, set_apart

_logger = logging.getLogger(__name__)

__all__ = list(NEXUSLIMS_API)

_T = session_log


def db_query(
    query: str, args: Sequence[Any] | Mapping[str, Any] | None = None, *, engine: EngineLike = None
) -> tuple[bool, list[tuple[Any, ...]]]:
    """Run one SQL statement with bound parameters and return ``(success, rows)``.

    ``args`` is a sequence for ``?`` placeholders (as in NexusLIMS) or a mapping for
    ``:name`` placeholders. Values are always bound, never pasted into the SQL; enum members
    are bound as their value and datetimes as ISO-8601 text, the form the columns hold. A
    statement that changes data is committed. On a database error the error is logged and
    ``(False, [])`` is returned, as NexusLIMS callers expect.
    """
    eng = get_engine(engine)
    try:
        with eng.connect().execution_options(nexus_write=True) as conn:
            with conn.begin():
                if isinstance(args, Mapping):
                    named = {k: coercion.bound_value(v) for k, v in args.items()}
                    result = conn.execute(text(query), named)
                else:
                    params = tuple(coercion.bound_value(v) for v in args or ())
                    sql = query if is_sqlite(eng) else qmark_to_format(query)
                    result = conn.exec_driver_sql(sql, params)
                rows = [tuple(r) for r in result.fetchall()] if result.returns_rows else []
        return True, rows
    except SQLAlchemyError as err:
        _logger.error("db_query failed on %s: %s", describe(eng), translate(err, describe(eng)))
        return False, []


class SessionLog:
    """One ``session_log`` row as NexusLIMS's ``SessionLog`` presents it.

    ``timestamp`` is the stored ISO-8601 text; ``record_status`` defaults to ``TO_BE_BUILT``
    as on the reference page. ``id_session_log`` is set for rows read from the database.
    Every attribute is plain text, whatever was given: a ``datetime`` becomes its ISO-8601
    text, an enum member (ours, NexusLIMS's or any other) its value, an instrument object its
    PID.
    """

    __slots__ = (
        "event_type",
        "id_session_log",
        "instrument",
        "record_status",
        "session_identifier",
        "timestamp",
        "user",
    )

    def __init__(
        self,
        session_identifier: str,
        instrument: str | Any,
        timestamp: str | datetime,
        event_type: str | EventType | Enum,
        user: str | None,
        record_status: str | RecordStatus | Enum = RecordStatus.TO_BE_BUILT.value,
        id_session_log: int | None = None,
    ) -> None:
        self.session_identifier = session_identifier
        self.instrument = coercion.instrument_pid(instrument)
        self.timestamp = coercion.timestamp_text(timestamp)
        self.event_type = as_text(event_type)
        self.user = user
        self.record_status = as_text(record_status)
        self.id_session_log = id_session_log

    def __repr__(self) -> str:
        return (
            f"SessionLog (id={self.session_identifier}, instrument={self.instrument}, "
            f"timestamp={self.timestamp}, event_type={self.event_type}, user={self.user}, "
            f"record_status={self.record_status})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionLog):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def datetime(self, tz_name: str | tzinfo | None = None) -> datetime:
        """The timestamp as an aware datetime (naive text read in ``tz_name``, a name or tzinfo)."""
        return timestamps.parse(self.timestamp, tz_name)

    def insert_log(self, *, engine: EngineLike = None) -> bool:
        """Insert this row once.

        If a row with the same session identifier, instrument and event type already exists
        (for RECORD_GENERATION: also the same timestamp), a warning is logged and nothing is
        inserted. Returns ``True`` when the row is in the database afterwards.
        Raises :class:`~nexus_logger.core.errors.NexusLoggerError` with a readable message
        for invalid values or an unusable database.
        """
        eng = get_engine(engine)
        values = validated_values(self, eng)
        cond = [
            _T.c.session_identifier == values["session_identifier"],
            _T.c.instrument == values["instrument"],
            _T.c.event_type == values["event_type"],
        ]
        if values["event_type"] == EventType.RECORD_GENERATION:
            cond.append(_T.c.timestamp == values["timestamp"])
        with write_transaction(eng) as conn:
            # PostgreSQL: serialise check-then-insert per instrument, as the lifecycle does
            # (SQLite's BEGIN IMMEDIATE already holds the write lock).
            lock_instrument(conn, values["instrument"])
            existing = conn.execute(select(_T.c.id_session_log).where(and_(*cond))).first()
            if existing is not None:
                _logger.warning("SessionLog already exists: %r (nothing inserted)", self)
                self.id_session_log = existing[0]
                return True
            result = conn.execute(insert(_T).values(**values))
            self.id_session_log = result.inserted_primary_key[0]
        self.timestamp = values["timestamp"]
        _logger.debug("Inserted %r", self)
        return True


class Session:
    """A session ready to be built: a START and its END, as NexusLIMS's ``Session``.

    ``dt_from`` and ``dt_to`` are the datetimes given (timezone-aware when read from the
    database). ``instrument`` is a
    :class:`~nexus_logger.core.session_instrument.SessionInstrument` made from the instrument
    given (a database :class:`~nexus_logger.core.db.models.Instrument`, NexusLIMS's ``Instrument``
    or any object with a ``name`` and a ``timezone``): it has the row's columns, and
    ``timezone`` (a tzinfo), ``timezone_str`` and ``localize_datetime`` as NexusLIMS's
    ``Instrument`` has, so NexusLIMS's record builder can use it.
    """

    __slots__ = ("dt_from", "dt_to", "engine", "instrument", "session_identifier", "user")

    def __init__(
        self,
        session_identifier: str,
        instrument: Instrument | SessionInstrument | Any,
        dt_range: tuple[datetime, datetime],
        user: str,
        *,
        engine: EngineLike = None,
    ) -> None:
        self.session_identifier = session_identifier
        # None is kept: NexusLIMS makes such sessions for rows whose instrument is not known.
        self.instrument = None if instrument is None else coercion.session_instrument(instrument)
        self.dt_from, self.dt_to = dt_range
        self.user = user
        self.engine = engine

    def __repr__(self) -> str:
        return f"{self.dt_from.isoformat()} to {self.dt_to.isoformat()} on {self.instrument.name}"

    def update_session_status(self, status: str | RecordStatus | Enum) -> bool:
        """Set ``record_status`` of every row of this session; unknown statuses are refused.

        ``status`` may be text or a member of any enum whose value is a status name, such as
        NexusLIMS's own ``RecordStatus``.
        """
        new = check_status(status)
        eng = get_engine(self.engine)
        info = require_usable(eng)
        if new not in info.allowed_statuses:
            raise InvalidInput(
                f"The {info.layout} database {describe(eng)} does not allow the status {new.value}."
            )
        with write_transaction(eng) as conn:
            result = conn.execute(
                update(_T)
                .where(_T.c.session_identifier == self.session_identifier)
                .values(record_status=new.value)
            )
        _logger.info(
            "Session %s -> %s (%d rows)", self.session_identifier, new.value, result.rowcount
        )
        return result.rowcount > 0

    def insert_record_generation_event(self) -> dict[str, Any]:
        """Log a RECORD_GENERATION row now (user ``nexuslims``, WAITING_FOR_END), as NexusLIMS.

        The timestamp is aware, in the instrument's time zone. Returns the inserted row.
        """
        eng = get_engine(self.engine)
        require_usable(eng)
        stamp = timestamps.to_db(timestamps.now_in(self.instrument.timezone))  # a tzinfo
        values = {
            "session_identifier": self.session_identifier,
            "instrument": self.instrument.instrument_pid,
            "timestamp": stamp,
            "event_type": EventType.RECORD_GENERATION.value,
            "record_status": RecordStatus.WAITING_FOR_END.value,
            "user": "nexuslims",
        }
        with write_transaction(eng) as conn:
            result = conn.execute(insert(_T).values(**values))
            new_id = result.inserted_primary_key[0]
        return {
            "id_session_log": new_id,
            "event_type": EventType.RECORD_GENERATION.value,
            "session_identifier": self.session_identifier,
            "timestamp": stamp,
            "record_status": RecordStatus.WAITING_FOR_END.value,
            "user": "nexuslims",
            "instrument": self.instrument.instrument_pid,
        }


class SessionsToBuild(list[Session]):
    """The sessions to build, plus the TO_BE_BUILT STARTs that had no matching END.

    With ``strict=False`` the bad STARTs are in :attr:`unpaired` (as :class:`SessionLog`)
    instead of raising.
    """

    def __init__(self, sessions: list[Session], unpaired: list[SessionLog]) -> None:
        super().__init__(sessions)
        self.unpaired = unpaired


def get_sessions_to_build(*, strict: bool = True, engine: EngineLike = None) -> SessionsToBuild:
    """Pair every TO_BE_BUILT START with its TO_BE_BUILT END, as NexusLIMS does.

    An END matches when ``session_identifier``, ``instrument`` and ``user`` are the same (two
    NULL users match, as Python's ``==`` does in NexusLIMS). With several matching ENDs the
    newest row (highest id) is used, as in NexusLIMS. Sessions come in START row order.

    By default a START without a matching END raises ``ValueError`` naming the session, as
    NexusLIMS does; with ``strict=False`` the good sessions are returned and the bad STARTs
    are listed in ``.unpaired`` and logged. How the pairs are found, per backend:
    :mod:`nexus_logger.core.sessions.pairing`.
    """
    eng = get_engine(engine)
    require_usable(eng)
    factory = session_factory(Session, load_instruments(eng), engine)
    with read_connection(eng) as conn, cycle_collector.paused(), pairing.small_page_cache(conn):
        if is_sqlite(eng):
            order, ids = pairing_scan.pair_in_id_order(conn, factory)
        else:
            rows = pairing.driver_rows(conn, pairing.sessions_to_build_statement())
            order, ids = pairing.pair_joined(rows, factory)
        bad = pairing.bad_sessions(conn, order, ids, factory)
    del ids
    sessions, unpaired = set_apart(order, bad, SessionLog, strict=strict) if bad else (order, [])
    _logger.info("Found %i new sessions to build", len(sessions))
    return SessionsToBuild(sessions, unpaired)


def get_all_session_logs(*, engine: EngineLike = None) -> list[SessionLog]:
    """Every ``session_log`` row, ordered by the instant its timestamp names.

    Rows with different UTC offsets sort by real time; naive (1.x) timestamps are read in
    their instrument's time zone; ties keep insertion (id) order.
    """
    eng = get_engine(engine)
    require_usable(eng)
    zones = {pid: inst.timezone for pid, inst in load_instruments(eng).items()}
    stmt = select(
        _T.c.session_identifier,
        _T.c.instrument,
        _T.c.timestamp,
        _T.c.event_type,
        _T.c.user,
        _T.c.record_status,
        _T.c.id_session_log,
    ).order_by(_T.c.id_session_log)
    logs: list[SessionLog] = []
    intern: dict[Any, Any] = {}
    with read_connection(eng) as conn:
        for ident, pid, ts, ev, user, status, row_id in conn.execute(stmt):
            # Share the few distinct instrument/user/status strings between rows: on a
            # million-session database this halves the memory the list takes.
            pid = intern.setdefault(pid, pid)
            user = intern.setdefault(user, user)
            log = SessionLog.__new__(SessionLog)
            log.session_identifier = ident
            log.instrument = pid
            log.timestamp = ts
            log.event_type = intern.setdefault(ev, ev)
            log.user = user
            log.record_status = intern.setdefault(status, status)
            log.id_session_log = row_id
            logs.append(log)
    # list.sort computes each key once; the sort is stable, so equal instants keep id order.
    logs.sort(key=lambda log: timestamps.sort_key(log.timestamp, zones.get(log.instrument)))
    _logger.info("Found %i session logs in database", len(logs))
    return logs
