"""The instrument a :class:`~nexus_logger.core.session_handler.Session` carries.

NexusLIMS's record builder, harvesters and extractors take ``session.instrument`` to be
NexusLIMS's own ``Instrument``: ``timezone`` is a tzinfo (a pytz zone, whose ``localize`` the
extractors call), ``timezone_str`` the IANA name, plus ``name``, ``filestore_path``,
``localize_datetime`` and the table's columns. nexus-logger's row (``models.Instrument``) has
``timezone`` as text, so a ``Session`` carries a :class:`SessionInstrument` instead: the same
columns as the row, and the members NexusLIMS's code uses, built from any instrument-like
object (our row, NexusLIMS's ``Instrument``, or anything with a ``name`` and a ``timezone``
given as a name or a tzinfo).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from nexus_logger.core import timestamps
from nexus_logger.core.errors import InvalidInput

_logger = logging.getLogger(__name__)

__all__ = ["InstrumentZone", "SessionInstrument"]


class InstrumentZone(ZoneInfo):
    """An IANA zone that also answers the three pytz members NexusLIMS code calls.

    NexusLIMS's extractors do ``instrument.timezone.localize(naive)``; with a plain
    ``ZoneInfo`` that would raise ``AttributeError``. No pytz dependency is needed for this.
    """

    @property
    def zone(self) -> str:
        """The IANA name, as pytz calls it."""
        return self.key

    def localize(self, value: datetime, is_dst: bool | None = False) -> datetime:
        """Attach this zone to a naive datetime, as pytz's ``localize`` does.

        A wall time that is ambiguous (clocks going back) or missing (clocks going forward)
        is read as standard time unless ``is_dst`` is true, like pytz's default.
        """
        if value.tzinfo is not None:
            raise ValueError("Not naive datetime (tzinfo is already set)")
        return timestamps.on_wall_clock(value, self, is_dst=bool(is_dst))

    def normalize(self, value: datetime) -> datetime:
        """The same instant in this zone (pytz needs this after arithmetic; zoneinfo does not)."""
        return value.astimezone(self)


@lru_cache(maxsize=256)
def _named_zone(name: str) -> tzinfo:
    """The :class:`InstrumentZone` of an IANA name; UTC (warned about once) for unknown names.

    UTC is the reading :func:`nexus_logger.core.timestamps.zone` gives stored times too.
    """
    canonical = timestamps.canonical_zone(name)
    if canonical:
        return InstrumentZone(canonical)
    _logger.warning("Instrument time zone %r is not an IANA zone; using UTC", name)
    return InstrumentZone("UTC")


def _tzinfo_for(name: str | None, given: object) -> tzinfo:
    """The zone to hand out; a tzinfo without an IANA name (a fixed offset) is kept as given."""
    if name:
        return _named_zone(name)
    if isinstance(given, tzinfo):
        return given
    return InstrumentZone("UTC")


class SessionInstrument:
    """An instrument as NexusLIMS's ``Instrument`` presents it, made from any instrument-like.

    Attributes are those of the ``instruments`` row (``instrument_pid``, ``api_url``,
    ``calendar_url``, ``location``, ``display_name``, ``property_tag``, ``filestore_path``,
    ``harvester``) plus ``timezone_str`` (the IANA name) and ``timezone`` (a tzinfo), exactly as
    on NexusLIMS's ``Instrument``. Two instruments are equal when all of these are.
    """

    __slots__ = (
        "api_url",
        "calendar_url",
        "display_name",
        "filestore_path",
        "harvester",
        "instrument_pid",
        "location",
        "property_tag",
        "timezone",
        "timezone_str",
    )

    def __init__(
        self,
        instrument_pid: str,
        *,
        timezone: str | tzinfo | None,
        display_name: str | None = None,
        api_url: str = "",
        calendar_url: str = "",
        location: str = "",
        property_tag: str = "",
        filestore_path: str | None = None,
        harvester: str = "nemo",
    ) -> None:
        self.instrument_pid = instrument_pid
        self.api_url = api_url
        self.calendar_url = calendar_url
        self.location = location
        self.display_name = display_name if display_name is not None else instrument_pid
        self.property_tag = property_tag
        # add_instrument's default, and where NexusLIMS looks when nothing else is known.
        self.filestore_path = filestore_path if filestore_path is not None else instrument_pid
        self.harvester = harvester
        name = timestamps.zone_name(timezone) if timezone is not None else None
        self.timezone_str = name if name is not None else str(timezone or "UTC")
        self.timezone = _tzinfo_for(name, timezone)

    @classmethod
    def of(cls, source: object) -> SessionInstrument:
        """Adapt ``source``: nexus-logger's row, NexusLIMS's ``Instrument`` or a look-alike.

        The identifier is ``instrument_pid`` or else ``name``; the zone is ``timezone_str``
        (NexusLIMS) or else ``timezone`` (a name or a tzinfo). Other columns are taken where
        present. Raises :class:`InvalidInput` for an object that has no name.
        """
        if isinstance(source, cls):
            return source
        pid = getattr(source, "instrument_pid", None) or getattr(source, "name", None)
        if not isinstance(pid, str) or not pid.strip():
            raise InvalidInput(
                f"{type(source).__name__} is not an instrument: it has no instrument_pid or "
                "name. Pass an Instrument from the database (or NexusLIMS's own)."
            )
        tz_text = getattr(source, "timezone_str", None)
        tz = tz_text if isinstance(tz_text, str) else getattr(source, "timezone", None)
        columns: dict[str, Any] = {
            col: value
            for col in (
                "display_name",
                "api_url",
                "calendar_url",
                "location",
                "property_tag",
                "filestore_path",
                "harvester",
            )
            if isinstance(value := getattr(source, col, None), str)
        }
        return cls(pid, timezone=tz, **columns)

    @property
    def name(self) -> str:
        """NexusLIMS code refers to an instrument's PID as its ``name``."""
        return self.instrument_pid

    def localize_datetime(self, value: datetime) -> datetime:
        """``value`` in the instrument's zone; a naive value is taken to be in it already."""
        if value.tzinfo is None:
            if isinstance(self.timezone, InstrumentZone):
                return self.timezone.localize(value)
            return value.replace(tzinfo=self.timezone)
        return value.astimezone(self.timezone)

    def localize_datetime_str(self, value: datetime, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        """:meth:`localize_datetime` formatted with ``fmt`` (NexusLIMS's default format)."""
        return self.localize_datetime(value).strftime(fmt)

    def to_dict(self) -> dict[str, str]:
        """The ``instruments`` row as a dict, with the zone's name under ``timezone``."""
        return {
            "instrument_pid": self.instrument_pid,
            "api_url": self.api_url,
            "calendar_url": self.calendar_url,
            "location": self.location,
            "display_name": self.display_name,
            "property_tag": self.property_tag,
            "filestore_path": self.filestore_path,
            "harvester": self.harvester,
            "timezone": self.timezone_str,
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text (``kwargs`` go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SessionInstrument):
            return self.to_dict() == other.to_dict()
        if hasattr(other, "instrument_pid") and hasattr(other, "timezone"):
            return self.to_dict() == SessionInstrument.of(other).to_dict()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.instrument_pid)

    def __str__(self) -> str:
        return f"{self.name} in {self.location}" if self.location else ""

    def __repr__(self) -> str:
        return f"SessionInstrument({self.instrument_pid!r}, timezone={self.timezone_str!r})"
