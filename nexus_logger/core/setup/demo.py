"""The demo database: what a newcomer (or a PC with nothing configured) runs against.

:func:`ensure_demo_database` makes, once, a local SQLite file in the user's data folder with
the NexusLIMS 2.8 schema, a few demo instruments in different time zones (one with a
half-hour offset, the case that breaks naive time arithmetic), a little finished history for
the admin tab to show, and this PC mapped to the first instrument, so the window can start a
session at once.

It only ever writes :func:`nexus_logger.core.settings.paths.demo_database`, whatever ``database`` is
configured to: the demo never touches a production database.

Safe when two processes race (say ``nexus-logger`` started twice from the desktop): the work
happens under a :class:`filelock.FileLock`, the file is built under a temporary name and
renamed into place, so nobody ever opens a half-made demo database. Later calls are cheap: a
small marker file next to the database records the host names already mapped, and when this
host is among them the function returns without importing SQLAlchemy (the window's start-up
budget is 0.5 s).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.settings import paths

if TYPE_CHECKING:
    from sqlalchemy import Engine

_logger = logging.getLogger(__name__)

#: Bumped when the demo content changes, so that existing demo databases get the additions.
DEMO_VERSION = 1
#: How long to wait for another process that is creating the demo database.
LOCK_TIMEOUT = 120.0
DEMO_USER = "demo-user"


@dataclass(frozen=True)
class DemoInstrument:
    """One instrument of the demo database."""

    pid: str
    display_name: str
    timezone: str
    location: str


DEMO_INSTRUMENTS: tuple[DemoInstrument, ...] = (
    DemoInstrument("DEMO-TEM-01", "Demo TEM (New York)", "America/New_York", "Demo lab, New York"),
    DemoInstrument("DEMO-SEM-02", "Demo SEM (Berlin)", "Europe/Berlin", "Demo lab, Berlin"),
    DemoInstrument("DEMO-FIB-03", "Demo FIB (Bengaluru)", "Asia/Kolkata", "Demo lab, Bengaluru"),
    DemoInstrument("DEMO-XPS-04", "Demo XPS (Denver)", "America/Denver", "Demo lab, Denver"),
)
#: The instrument this PC is mapped to in the demo database.
DEMO_STATION = DEMO_INSTRUMENTS[0].pid


def demo_pids() -> list[str]:
    """The instrument PIDs of the demo database."""
    return [inst.pid for inst in DEMO_INSTRUMENTS]


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".ready")


def _read_marker(path: Path) -> dict[str, object]:
    try:
        data = json.loads(_marker(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_ready(path: Path, host: str) -> bool:
    marker = _read_marker(path)
    hosts = marker.get("hosts")
    return (
        path.is_file()
        and marker.get("version") == DEMO_VERSION
        and isinstance(hosts, list)
        and host.casefold() in hosts
    )


def _write_marker(path: Path, hosts: list[str]) -> None:
    data = {"version": DEMO_VERSION, "hosts": sorted(set(hosts)), "database": str(path)}
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, _marker(path))


def _add_history(engine: Engine) -> None:
    """A few finished sessions on the other instruments, so lists are not empty.

    Written as NexusLIMS writes them: aware timestamps in each instrument's zone, START and
    END with the same user, and for a built session its RECORD_GENERATION row.
    """
    from sqlalchemy import insert

    from nexus_logger.core import timestamps
    from nexus_logger.core.db.engine import write_transaction
    from nexus_logger.core.db.models import session_log
    from nexus_logger.core.enums import EventType, RecordStatus

    rows = []
    for days, inst, status in (
        (3, DEMO_INSTRUMENTS[1], RecordStatus.COMPLETED),
        (2, DEMO_INSTRUMENTS[2], RecordStatus.COMPLETED),
        (1, DEMO_INSTRUMENTS[3], RecordStatus.TO_BE_BUILT),
    ):
        day = timestamps.now_in(inst.timezone) - timedelta(days=days)
        start = day.replace(hour=9, minute=30, second=0, microsecond=0)
        end = start + timedelta(hours=2, minutes=15)
        ident = f"{inst.pid.lower()}-{start:%Y%m%d}"
        for when, event, user in (
            (start, EventType.START, DEMO_USER),
            (end, EventType.END, DEMO_USER),
        ):
            rows.append(
                {
                    "session_identifier": ident,
                    "instrument": inst.pid,
                    "timestamp": timestamps.to_db(when, inst.timezone),
                    "event_type": event.value,
                    "record_status": status.value,
                    "user": user,
                }
            )
        if status is RecordStatus.COMPLETED:
            built = end + timedelta(minutes=20)
            rows.append(
                {
                    "session_identifier": ident,
                    "instrument": inst.pid,
                    "timestamp": timestamps.to_db(built, inst.timezone),
                    "event_type": EventType.RECORD_GENERATION.value,
                    "record_status": status.value,
                    "user": "nexuslims",
                }
            )
    with write_transaction(engine) as conn:
        conn.execute(insert(session_log), rows)


def _build(target: Path, host: str) -> None:
    """Create a complete demo database at ``target`` (a new file)."""
    from nexus_logger.core.db.engine import create_db_engine
    from nexus_logger.core.db.schema import init_db
    from nexus_logger.core.sessions.station import set_station

    engine = create_db_engine(target, create=True)
    try:
        init_db(engine)
        _add_instruments(engine, DEMO_INSTRUMENTS)
        _add_history(engine)
        set_station(DEMO_STATION, hostname=host, engine=engine)
    finally:
        engine.dispose()


def _add_instruments(engine: Engine, instruments: Sequence[DemoInstrument]) -> None:
    """Add the demo instruments given (their name, zone and place) to the database."""
    from nexus_logger.core.db.instruments import add_instrument

    for inst in instruments:
        add_instrument(
            inst.pid,
            display_name=inst.display_name,
            timezone=inst.timezone,
            location=inst.location,
            engine=engine,
        )


def _usable(path: Path) -> bool:
    """True when ``path`` holds a NexusLIMS 2.x database (the demo made earlier)."""
    from nexus_logger.core.db.engine import create_db_engine
    from nexus_logger.core.db.schema import Layout, inspect_schema

    engine = create_db_engine(path)
    try:
        return inspect_schema(engine).layout is Layout.NEXUSLIMS_2
    except NexusLoggerError as err:
        _logger.warning("The demo database %s is not usable (%s); it is made again", path, err)
        return False
    finally:
        engine.dispose()


def _complete(path: Path, host: str) -> None:
    """Add what an existing demo database lacks: demo instruments, this host's mapping."""
    from nexus_logger.core.db.engine import create_db_engine
    from nexus_logger.core.db.schema import load_instruments
    from nexus_logger.core.sessions.station import lookup_station, set_station

    engine = create_db_engine(path)
    try:
        present = load_instruments(engine)
        _add_instruments(engine, [i for i in DEMO_INSTRUMENTS if i.pid not in present])
        if lookup_station(host, engine=engine) is None:
            set_station(DEMO_STATION, hostname=host, engine=engine)
            _logger.info("Demo database: mapped %s to %s", host, DEMO_STATION)
    finally:
        engine.dispose()


def ensure_demo_database(*, hostname: str | None = None, reset: bool = False) -> Path:
    """Create the demo database if needed and map this PC to a demo instrument; its path.

    Idempotent, and safe when several processes call it at once. ``reset`` starts the demo
    over (the old file is kept as ``demo.sqlite.old``). Never touches any other database.
    """
    # socket.gethostname() is what core.station.this_host() returns; importing that module
    # would import SQLAlchemy, which the fast path avoids.
    host = (hostname if hostname is not None else socket.gethostname()).strip()
    path = paths.demo_database()
    if not reset and _is_ready(path, host):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NexusLoggerError(
            f"The data folder {path.parent} cannot be created ({err.strerror}). Set "
            f"{paths.HOME_ENV} to a folder this account may write, or ask IT."
        ) from None
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT):
            return _ensure_locked(path, host, reset)
    except Timeout:
        raise NexusLoggerError(
            f"Another nexus-logger has been creating the demo database {path} for more than "
            f"{LOCK_TIMEOUT:.0f} s. Close other nexus-logger windows and try again."
        ) from None


def _ensure_locked(path: Path, host: str, reset: bool) -> Path:
    hosts = [h for h in _read_marker(path).get("hosts", []) or [] if isinstance(h, str)]
    if reset and path.exists():
        _set_aside(path, path.with_name(path.name + ".old"))
        hosts = []
    elif path.exists() and not _usable(path):
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        _set_aside(path, path.with_name(f"{path.name}.broken-{stamp}"))
        hosts = []
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            _build(tmp, host)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _logger.info("Created the demo database %s (this PC: %s)", path, DEMO_STATION)
    else:
        _complete(path, host)
    _write_marker(path, [*hosts, host.casefold()])
    return path


def _set_aside(path: Path, target: Path) -> None:
    try:
        os.replace(path, target)
    except OSError as err:
        raise NexusLoggerError(
            f"The demo database {path} cannot be replaced ({err.strerror}); it may be open in "
            "another nexus-logger window. Close it and try again."
        ) from None
    _marker(path).unlink(missing_ok=True)
