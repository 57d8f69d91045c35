"""Adding instruments (for new and demo databases; NexusLIMS staff normally manage them)."""

from __future__ import annotations

from sqlalchemy import insert, select

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, get_engine, write_transaction
from nexus_logger.core.db.models import Instrument, instruments
from nexus_logger.core.db.schema import Layout, require_usable
from nexus_logger.core.errors import Conflict, InvalidInput
from nexus_logger.core.validation import clean_instrument, clean_text


def add_instrument(
    instrument_pid: str,
    *,
    display_name: str,
    timezone: str,
    location: str = "",
    api_url: str | None = None,
    calendar_url: str = "",
    property_tag: str = "",
    filestore_path: str | None = None,
    harvester: str = "nemo",
    engine: EngineLike = None,
) -> Instrument:
    """Insert one instrument into a NexusLIMS 2.x database and return it.

    ``api_url`` must be unique in NexusLIMS; by default it is derived from the PID.
    """
    eng = get_engine(engine)
    info = require_usable(eng)
    if info.layout is not Layout.NEXUSLIMS_2:
        raise InvalidInput("Instruments can only be added to a NexusLIMS 2.x database.")
    pid = clean_instrument(instrument_pid)
    zone_name = timestamps.canonical_zone(timezone) if timezone else None
    if zone_name is None:
        raise InvalidInput(
            f"{timezone!r} is not an IANA time zone; use a name such as 'America/New_York'."
        )
    timezone = zone_name  # as IANA spells it
    values = {
        "instrument_pid": pid,
        "api_url": api_url or f"nexus-logger://instrument/{pid}",
        "calendar_url": calendar_url,
        "location": clean_text(location, "location", 100, required=False),
        "display_name": clean_text(display_name, "display name", 200),
        "property_tag": clean_text(property_tag, "property tag", 20, required=False),
        "filestore_path": filestore_path if filestore_path is not None else pid,
        "harvester": harvester,
        "timezone": timezone,
    }
    table = instruments
    with write_transaction(eng) as conn:
        if conn.execute(
            select(table.c.instrument_pid).where(table.c.instrument_pid == pid)
        ).first():
            raise Conflict(f"The instrument {pid} already exists.")
        conn.execute(insert(table).values(**values))
    return Instrument(**values)
