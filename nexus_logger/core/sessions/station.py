"""Which instrument a PC controls, kept in the logger-owned table ``nexus_logger_station``.

NexusLIMS 1.x kept the PC's name in ``instruments.computer_name``; 2.5 removed that column, so
the mapping now lives in a table of our own in the same database: set once per PC with
``nexus-logger station set PID``, it works for every user of that PC and for every PC that reads
the database. Host names are compared case-insensitively and with or without their DNS domain,
as Windows does.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, delete, or_, select

from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.logger_tables import ensure_tables, pc_report, station, table_exists
from nexus_logger.core.db.schema import load_instruments, require_usable
from nexus_logger.core.errors import UnknownInstrument
from nexus_logger.core.validation import clean_instrument, clean_text

_logger = logging.getLogger(__name__)

MAX_HOSTNAME = 255


@dataclass(frozen=True)
class StationMapping:
    """One row of ``nexus_logger_station``."""

    hostname: str
    instrument_pid: str
    updated: str
    updated_by: str | None


def this_host() -> str:
    """This PC's host name, as the OS reports it."""
    return socket.gethostname()


def normalize_host(hostname: str) -> str:
    """The form host names are stored and compared in: stripped and case-folded."""
    return clean_text(hostname, "host name", MAX_HOSTNAME).casefold()


def host_candidates(hostname: str) -> list[str]:
    """``hostname`` normalised, then its short name (``pc1.lab.org`` -> ``pc1``) if different."""
    full = normalize_host(hostname)
    short = full.split(".", 1)[0]
    return [full] if short == full or not short else [full, short]


def _os_login() -> str | None:
    """The real OS account (not ``LOGNAME``), for "updated by" of a station row."""
    from nexus_logger.core.settings.identity import os_login

    return os_login() or None


def set_station(
    instrument_pid: str, *, hostname: str | None = None, engine: EngineLike = None
) -> None:
    """Map ``hostname`` (default: this PC) to ``instrument_pid``, replacing an earlier mapping.

    The instrument must exist, so a typo cannot silently point a PC at nothing. The PC's
    fleet report of another instrument goes with the old mapping: on PostgreSQL with the roles
    script, the moved PC's account may not overwrite a row of its old instrument, so the
    Fleet page kept showing the old instrument and in time called a working PC silent.
    (The PC writes a new report at its next launch or heartbeat.)
    """
    eng = get_engine(engine)
    require_usable(eng)
    pid = clean_instrument(instrument_pid)
    host = normalize_host(hostname if hostname is not None else this_host())
    instruments = load_instruments(eng)
    if pid not in instruments:
        raise UnknownInstrument.named(pid, describe(eng), instruments)
    ensure_tables(eng, [station])
    values = {
        "hostname": host,
        "instrument_pid": pid,
        "updated": datetime.now(UTC).isoformat(),
        "updated_by": _os_login(),
    }
    with write_transaction(eng) as conn:
        conn.execute(delete(station).where(station.c.hostname == host))
        conn.execute(station.insert().values(**values))
        if table_exists(conn, pc_report):
            reported_as = _names_of(pc_report.c.hostname, host_candidates(host))
            conn.execute(delete(pc_report).where(reported_as, pc_report.c.instrument != pid))
    _logger.info("Station %s -> %s in %s", host, pid, describe(eng))


def remove_station(hostname: str | None = None, *, engine: EngineLike = None) -> bool:
    """Forget the mapping of ``hostname`` (default: this PC); True when there was one."""
    host = normalize_host(hostname if hostname is not None else this_host())
    with _station_table(engine, write=True) as conn:
        if conn is None:
            return False
        result = conn.execute(delete(station).where(station.c.hostname == host))
    return result.rowcount > 0


def lookup_station(hostname: str | None = None, *, engine: EngineLike = None) -> str | None:
    """The instrument PID mapped to ``hostname`` (default: this PC), or None.

    The full name is tried first, then the short name without the DNS domain, then a stored
    full name of the same short name: IT often maps the name DNS gives (``pc-sem.lab.org``)
    while Windows reports ``PC-SEM``. Two stored names of that short name for different
    instruments match neither (which PC is meant cannot be told).
    """
    candidates = host_candidates(hostname if hostname is not None else this_host())
    found = station_links(hostname, engine=engine)
    for host in candidates:
        if host in found:
            return found[host]
    same_short = set(found.values())
    return same_short.pop() if len(same_short) == 1 else None


def station_links(hostname: str | None = None, *, engine: EngineLike = None) -> dict[str, str]:
    """Every stored name that may be ``hostname`` (default: this PC), with its instrument:
    its full and short name, and full names of its short name (see :func:`lookup_station`;
    several of those for different instruments is why a PC is not found)."""
    candidates = host_candidates(hostname if hostname is not None else this_host())
    with _station_table(engine) as conn:
        if conn is None:
            return {}
        rows = conn.execute(
            select(station.c.hostname, station.c.instrument_pid).where(
                _names_of(station.c.hostname, candidates)
            )
        ).all()
    return dict(rows)


def _names_of(column: ColumnElement[str], candidates: list[str]) -> ColumnElement[bool]:
    """``column`` holds one of a PC's names (:func:`host_candidates`), or a full name of its
    short one."""
    return or_(column.in_(candidates), column.startswith(candidates[-1] + ".", autoescape=True))


def list_stations(*, engine: EngineLike = None) -> list[StationMapping]:
    """Every mapping, by host name (empty when the table does not exist yet)."""
    with _station_table(engine) as conn:
        if conn is None:
            return []
        rows = conn.execute(select(station).order_by(station.c.hostname)).mappings().all()
    return [StationMapping(**dict(r)) for r in rows]


@contextmanager
def _station_table(engine: EngineLike, *, write: bool = False) -> Iterator[Connection | None]:
    """A transaction on the database, with None instead of the connection when the station
    table does not exist yet (no PC was ever linked): there is nothing to read or remove."""
    eng = get_engine(engine)
    require_usable(eng)
    with (write_transaction if write else read_connection)(eng) as conn:
        yield conn if table_exists(conn, station) else None
