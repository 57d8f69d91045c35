"""Which instrument this PC is (:func:`identify_instrument`), and the instruments the lifecycle
looks up by PID, kept per engine for a minute (an unknown PID always reloads them)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine

from nexus_logger.core.db.engine import EngineLike, describe, engine_info, get_engine
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.db.schema import legacy_computer_names, load_instruments, require_usable
from nexus_logger.core.errors import NotFound, UnknownInstrument, known_pids
from nexus_logger.core.sessions.station import (
    host_candidates,
    lookup_station,
    station_links,
    this_host,
)
from nexus_logger.core.validation import clean_instrument

_logger = logging.getLogger(__name__)

__all__ = ["identify_instrument", "known_instrument"]

#: Instruments change rarely; a short cache saves a query on every start and end. An unknown
#: PID always reloads, so a newly added instrument is usable at once.
_INSTRUMENT_CACHE_SECONDS = 60.0


def _instruments(eng: Engine, *, refresh: bool = False) -> dict[str, Instrument]:
    info = engine_info(eng)
    cached = info.get("nexus_lifecycle_instruments")
    now = time.monotonic()
    if cached is not None and not refresh and now - cached[0] < _INSTRUMENT_CACHE_SECONDS:
        return cached[1]
    data = load_instruments(eng)
    info["nexus_lifecycle_instruments"] = (now, data)
    return data


def known_instrument(eng: Engine, pid: str) -> Instrument:
    """The instrument ``pid`` of the database; :class:`UnknownInstrument` (a set-up problem,
    exit 6) listing the known ones."""
    inst = _instruments(eng).get(pid)
    if inst is None:
        known = _instruments(eng, refresh=True)
        inst = known.get(pid)
        if inst is None:
            raise UnknownInstrument.named(pid, describe(eng), known)
    return inst


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

    Raises :class:`UnknownInstrument` (a :class:`NotFound`; a set-up problem, exit 6) naming
    this host and listing the known instruments when nothing matches, so the person at the PC
    knows exactly what to run.
    """
    eng = get_engine(engine)
    info = require_usable(eng)
    if instrument is None and use_config:
        instrument = _configured_instrument()
    if instrument is not None:
        return known_instrument(eng, clean_instrument(instrument))
    host = hostname if hostname is not None else this_host()
    pid = lookup_station(host, engine=eng)
    how = "the station table"
    if pid is None and info.has_computer_name:
        names = {name.casefold(): p for name, p in legacy_computer_names(eng).items()}
        for candidate in host_candidates(host):
            if candidate in names:
                pid, how = names[candidate], "instruments.computer_name"
                break
    if pid is None and len(set((links := station_links(host, engine=eng)).values())) > 1:
        listed = ", ".join(f"{name} \u2192 {p}" for name, p in sorted(links.items()))
        raise UnknownInstrument(
            f"This PC (host name {host!r}) could be several linked PCs of different "
            f"instruments ({listed}), so which instrument it is cannot be told. Link this PC "
            f"by the name it reports: 'nexus-logger station set PID --hostname {host}', or "
            "pass --instrument PID."
        )
    if pid is None:
        known = _instruments(eng, refresh=True)
        what_to_do = (
            " Run 'nexus-logger station set PID' on this PC once, or pass --instrument PID."
            if known
            else ""
        )
        raise UnknownInstrument(
            f"This PC (host name {host!r}) is not linked to an instrument in the database "
            f"{describe(eng)}. {known_pids(known)}{what_to_do}"
        )
    try:
        inst = known_instrument(eng, pid)
    except NotFound:
        known = _instruments(eng)
        what_to_do = " Fix the link with 'nexus-logger station set PID'." if known else ""
        raise UnknownInstrument(
            f"This PC (host name {host!r}) is linked to the instrument {pid!r}, which is not in "
            f"the database {describe(eng)}. {known_pids(known)}{what_to_do}"
        ) from None
    _logger.debug("Host %s is %s (from %s)", host, pid, how)
    return inst
