"""The fleet: every instrument PC that ever logged, what it last reported, and which need a look.

Each PC reports itself (:func:`report_pc`) into the logger-owned ``nexus_logger_pc`` table at
launch, with each heartbeat and on ``sync``: its instrument, nexus-logger version, the session
running there, the events waiting in its outbox, its clock's offset from the database server
and the database account it uses. :func:`list_fleet` reads those rows together with the station
and heartbeat tables, so PCs running an older nexus-logger (which report nothing) are listed
too, and flags PCs that have been silent too long, run an older version than the newest one
in the fleet, have events waiting, or whose clock is off.

A report is a convenience for staff: writing it never stops a start, an end or a heartbeat
(a failure is logged once per process, at INFO). An SQLite file has no clock of its own and no
accounts, so on SQLite the offset and the account are shown as unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from nexus_logger import __version__
from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import (
    EngineLike,
    get_engine,
    is_sqlite,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.logger_tables import (
    ensure_tables,
    heartbeat,
    open_session,
    pc_report,
    station,
    table_exists,
)
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.sessions.station import host_candidates
from nexus_logger.core.settings.identity import recorded_login

__all__ = ["PcStatus", "headline", "list_fleet", "measure_clock", "report_pc", "version_key"]

_logger = logging.getLogger(__name__)
_warned = False


def version_key(version: str | None) -> tuple[int, ...]:
    """``"0.10.2"`` -> ``(0, 10, 2)``, for comparing versions (non-numeric parts count as 0)."""
    parts = []
    for piece in (version or "").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def measure_clock(conn: Any) -> tuple[float | None, str | None]:
    """(this PC's clock minus the server's, in seconds; the database account), on PostgreSQL.

    The server's time is taken half-way through the round trip, so the network's delay does
    not count as offset. On SQLite: (None, None).
    """
    if is_sqlite(conn.engine):
        return None, None
    before = time.time()
    server, account = conn.execute(text("SELECT clock_timestamp(), session_user")).one()
    after = time.time()
    offset = (before + after) / 2 - server.timestamp()
    return round(offset, 3), account


def report_pc(
    *,
    hostname: str,
    instrument: str,
    waiting_events: int,
    session_identifier: str | None,
    os_login: str | None,
    version: str = __version__,
    engine: EngineLike = None,
) -> bool:
    """Write this PC's row; True if written. Never raises for a database that refuses it."""
    global _warned
    try:
        eng = get_engine(engine)
        ensure_tables(eng, [pc_report])
        with write_transaction(eng) as conn:
            offset, account = measure_clock(conn)
            # On the server's clock where there is one: a PC a day behind that reports now
            # was shown as silent for a day, one a day ahead as seen for a day after it
            # went quiet.
            reported = datetime.now(UTC) - timedelta(seconds=offset or 0.0)
            values = {
                "instrument": instrument,
                "version": version,
                "reported": reported.isoformat(),
                "clock_offset_seconds": offset,
                "waiting_events": int(waiting_events),
                "db_account": account,
                "os_login": os_login,
                "session_identifier": session_identifier,
            }
            host = hostname.strip().casefold()
            done = conn.execute(
                pc_report.update().where(pc_report.c.hostname == host).values(values)
            )
            if done.rowcount == 0:
                conn.execute(pc_report.insert().values(hostname=host, **values))
    except NexusLoggerError as err:
        if not _warned:
            _warned = True
            _logger.info("This PC's fleet report was not written: %s", err)
        return False
    return True


@dataclass(frozen=True)
class PcStatus:
    """One PC as the Fleet page shows it; ``flags`` says what needs a look (empty: healthy)."""

    hostname: str
    instrument: str | None
    version: str | None  # None: an older nexus-logger that reports nothing
    last_seen: datetime | None  # the newest of its report and its last heartbeat
    session_identifier: str | None
    waiting_events: int | None
    clock_offset_seconds: float | None
    db_account: str | None
    os_login: str | None
    flags: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "hostname": self.hostname,
            "instrument": self.instrument,
            "version": self.version,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "session_identifier": self.session_identifier,
            "waiting_events": self.waiting_events,
            "clock_offset_seconds": self.clock_offset_seconds,
            "db_account": self.db_account,
            "os_login": self.os_login,
            "flags": list(self.flags),
        }


def _aware(text_value: str | None) -> datetime | None:
    if not text_value:
        return None
    try:
        return timestamps.parse(text_value)
    except ValueError:
        return None


def _stations_as_reported(
    reports: dict[str, dict[str, Any]], stations: dict[str, str]
) -> dict[str, str]:
    """Station rows under the name the PC they map reports itself by.

    The station lookup tries a PC's full name, then its short name: a PC mapped as ``pc1``
    that reports as ``pc1.lab.org`` is one PC (it was listed twice, its station row flagged
    as silent while in use). Nothing else is merged: ``pc1.chem.org`` is not
    ``pc1.physics.org``, and a station ``pc2.lab.org`` does not map a PC named ``pc2``.
    """
    out = dict(stations)
    for reported in reports:
        full, *short = host_candidates(reported)
        if full in stations or not short or short[0] in reports or short[0] not in out:
            continue  # (two PCs of one short name: the station row goes with the first)
        out[reported] = out.pop(short[0])
    return out


def _rows(conn: Any) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    reports: dict[str, dict[str, Any]] = {}
    if table_exists(conn, pc_report):
        for row in conn.execute(select(pc_report)).mappings():
            reports[row["hostname"]] = dict(row)
    stations: dict[str, str] = {}
    if table_exists(conn, station):
        for host, pid in conn.execute(select(station.c.hostname, station.c.instrument_pid)):
            stations[host.casefold()] = pid
    beats: dict[str, str] = {}
    if table_exists(conn, heartbeat):
        latest = (
            select(heartbeat.c.hostname, func.max(heartbeat.c.last_alive))
            .where(heartbeat.c.hostname.is_not(None))
            .group_by(heartbeat.c.hostname)
        )
        for host, last in conn.execute(latest):
            beats[host.casefold()] = last
    return reports, stations, beats


def _open_by_host(conn: Any) -> dict[str, list[tuple[str, str]]] | None:
    """Host -> (instrument, session) of each session open there, by the claim rows (``None``
    without the claim table: a database no nexus-logger of this kind has started on yet)."""
    if not table_exists(conn, open_session):
        return None
    claimed = (
        select(
            open_session.c.hostname, open_session.c.instrument, open_session.c.session_identifier
        )
        .where(open_session.c.session_identifier.is_not(None), open_session.c.hostname.is_not(None))
        .order_by(open_session.c.instrument)
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for host, pid, ident in conn.execute(claimed):
        out.setdefault(host.casefold(), []).append((pid, ident))
    return out


def _instrument_and_session(
    reported: str | None, report_session: str | None, opens: list[tuple[str, str]] | None
) -> tuple[str | None, str | None]:
    """The instrument a PC's row names and the session running on it, always of one instrument.

    The claim rows say which sessions are open; the PC's report only where there are none
    (it is as old as the PC's last report: a session ended since, by staff, would still show).
    A PC used for several instruments (``--instrument``) reports the last one it ran for; a
    session open there on another instrument is shown with that instrument, never beside the
    reported one.
    """
    if opens is None:
        return reported, report_session
    for pid, ident in opens:
        if pid == reported:
            return pid, ident
    if opens:
        return opens[0]
    return reported, None


def list_fleet(
    *,
    silent_hours: float = 24.0,
    clock_limit_seconds: float = 300.0,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[PcStatus]:
    """Every PC that ever logged, most recently seen first, each with what needs a look."""
    eng = get_engine(engine)
    # A file of another program, or an empty one, has no PCs for a reason other than "none
    # has logged yet": said as every other command says it.
    require_usable(eng)
    with read_connection(eng) as conn:
        reports, stations, beats = _rows(conn)
        running = _open_by_host(conn)
        # Reports are dated by the server's clock there: "silent" is measured on it too,
        # not on the clock of the PC looking.
        server_now = None if is_sqlite(conn.engine) else conn.execute(text("SELECT now()")).scalar()
    now = now or server_now or datetime.now(UTC)
    stations = _stations_as_reported(reports, stations)
    newest = max((version_key(r["version"]) for r in reports.values()), default=())
    out = []
    for host in sorted({*reports, *stations, *beats}):
        rep = reports.get(host)
        offset = rep["clock_offset_seconds"] if rep else None
        # A PC that reports does so with each heartbeat, dated by the server on PostgreSQL;
        # its heartbeats carry its own clock. Only a PC that reports nothing is seen by them.
        last_seen = _aware(rep["reported"]) if rep else _aware(beats.get(host))
        flags = []
        if rep is None:
            flags.append("reports nothing: an older nexus-logger, or never launched since")
        if last_seen is not None and now - last_seen > timedelta(hours=silent_hours):
            flags.append(f"silent for more than {silent_hours:g} h")
        if (
            server_now is None
            and last_seen is not None
            and last_seen - now > timedelta(seconds=clock_limit_seconds)
        ):
            # On SQLite nothing measures a PC's clock: a time ahead of this one shows it.
            flags.append("its clock is ahead of this PC's: its last report is in the future")
        if rep and version_key(rep["version"]) < newest:
            flags.append(f"runs {rep['version']}, older than the newest in the fleet")
        if rep and rep["waiting_events"]:
            flags.append(f"{rep['waiting_events']} event(s) waiting on that PC")
        if offset is not None and abs(offset) > clock_limit_seconds:
            flags.append(f"clock off by {offset:+.0f} s")
        instrument, session = _instrument_and_session(
            (rep["instrument"] if rep else None) or stations.get(host),
            rep["session_identifier"] if rep else None,
            None if running is None else running.get(host, []),
        )
        out.append(
            PcStatus(
                hostname=host,
                instrument=instrument,
                version=rep["version"] if rep else None,
                last_seen=last_seen,
                session_identifier=session,
                waiting_events=rep["waiting_events"] if rep else None,
                clock_offset_seconds=offset,
                db_account=rep["db_account"] if rep else None,
                os_login=rep["os_login"] if rep else None,
                flags=tuple(flags),
            )
        )
    out.sort(key=lambda p: p.last_seen or datetime.min.replace(tzinfo=UTC), reverse=True)
    return out


def headline(pcs: Sequence[PcStatus]) -> str:
    """One sentence over the fleet: how many PCs, and how many need a look (CLI and Admin tab)."""
    flagged = sum(1 for pc in pcs if pc.flags)
    total = f"{len(pcs)} PC" if len(pcs) == 1 else f"{len(pcs)} PCs"
    if not pcs:
        return (
            "No instrument PC has logged to this database yet. Each PC appears here once it "
            "runs nexus-logger."
        )
    if not flagged:
        return "The only PC looks healthy." if len(pcs) == 1 else f"All {total} look healthy."
    return f"{flagged} of {total} {'needs' if flagged == 1 else 'need'} a look:"


def report_this_pc(
    logger: Any, instrument: str | None, session_identifier: str | None = None
) -> bool:
    """:func:`report_pc` for this PC, from a :class:`~nexus_logger.core.offline.durable.DurableLogger`
    (its outbox gives the waiting events); False when there is nothing to report or the
    database is away. ``session_identifier`` only for a session the database has."""
    from nexus_logger.core.sessions.station import this_host

    if not instrument:
        return False
    try:
        engine = logger.engine()
        waiting = logger.pending_count()
    except NexusLoggerError:
        return False
    return report_pc(
        hostname=this_host(),
        instrument=instrument,
        waiting_events=waiting,
        session_identifier=session_identifier,
        os_login=recorded_login(),
        engine=engine,
    )
