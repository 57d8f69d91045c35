"""Making a million ``Session`` objects fast: the object-building half of
:mod:`~nexus_logger.core.sessions.pairing` (which finds the pairs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from nexus_logger.core import timestamps

__all__ = ["SessionFactory"]


class SessionFactory:
    """Makes the ``Session`` objects (class given by the caller) without per-row coercion.

    Times: ``datetime.fromisoformat``; naive text is read in the instrument's zone, and every
    aware result gets the one shared tzinfo object of its UTC offset.

    Sharing the tzinfo keeps a million sessions within their memory budget (a parsed time
    carries its own offset object: 144 MB more), but converting each parsed time to the
    shared one (``astimezone``) cost more than the parse itself. So the text NexusLIMS 2.x
    writes (``isoformat()`` with microseconds, 32 characters ending ``+hh:mm``) takes a
    shorter way once its offset has been seen: its first 26 characters are read as a naive
    time and moved by the difference from an *anchor*, the first time read with that offset
    (the sum is an aware datetime with the anchor's tzinfo and the same wall time). Every other
    text is parsed in full. Figures: docs/performance.md.
    """

    def __init__(
        self,
        session_cls: type,
        instrument_of: Callable[[str], Any],
        zone_of: Callable[[str], tzinfo],
        engine: Any,
    ) -> None:
        self.cls = session_cls
        self.instrument_of = instrument_of
        self.zone_of = zone_of
        self.engine = engine
        self.shared_tz: dict[tzinfo, tzinfo] = {}
        # "+hh:mm" -> (naive, aware) of the first time read with that offset
        self.anchors: dict[str, tuple[datetime, datetime]] = {}
        self.users: dict[Any, Any] = {}
        self.per_pid: dict[str, tuple[Any, tzinfo]] = {}
        self.unreadable = 0  # times left as text: only then must every session be looked at

    def instrument_and_zone(self, pid: str) -> tuple[Any, tzinfo]:
        found = self.per_pid.get(pid)
        if found is None:
            found = self.per_pid[pid] = (self.instrument_of(pid), self.zone_of(pid))
        return found

    def parse(self, text: Any, zone: tzinfo) -> datetime | str:
        """An aware datetime, or ``text`` itself when it is not ISO-8601."""
        try:
            anchor = self.anchors.get(text[-6:]) if len(text) == _NEXUSLIMS_LENGTH else None
            if anchor is not None:
                # TypeError if the first 26 characters carry an offset of their own
                return anchor[1] + (_fromisoformat(text[:-6]) - anchor[0])
        except (TypeError, ValueError):
            pass  # not a text of that shape after all: read in full below
        try:
            value = _fromisoformat(text)
        except (TypeError, ValueError):
            try:
                return timestamps.parse(text, zone)  # also takes surrounding blanks
            except (timestamps.TimestampError, TypeError):  # TypeError: not text (a BLOB)
                self.unreadable += 1
                return text
        tz = value.tzinfo
        if tz is None:  # a 1.x time, read as NexusLIMS reads it
            return timestamps.on_wall_clock(value, zone)
        shared = self.shared_tz.get(tz)
        if shared is None:  # the first time of this UTC offset: its tzinfo is the shared one
            self.shared_tz[tz] = shared = tz
        else:  # same offset, so the same wall time
            try:
                value = value.astimezone(shared)  # cheaper than replace(tzinfo=...)
            except OverflowError:  # at the ends of the range (year 1 or 9999) via UTC
                value = value.replace(tzinfo=shared)
        # An anchor only from a text exactly as isoformat() writes it: 26 characters of wall
        # time, then an offset of whole minutes ("+hh:mm"), nothing else.
        if (
            len(text) == _NEXUSLIMS_LENGTH
            and text[-6:] not in self.anchors
            and value.isoformat() == text
        ):
            self.anchors[text[-6:]] = (value.replace(tzinfo=None), value)
        return value

    def session(self, ident: str, instrument: Any, user: Any, start: Any, end: Any) -> Any:
        """A session of parsed times (:meth:`parse`); ``instrument`` from
        :meth:`instrument_and_zone`, so that its sessions share it."""
        session = self.cls.__new__(self.cls)
        session.session_identifier = ident
        session.instrument = instrument
        session.user = self.users.setdefault(user, user)
        session.engine = self.engine
        session.dt_from = start
        session.dt_to = end
        return session


_fromisoformat = datetime.fromisoformat
_NEXUSLIMS_LENGTH = len("2026-12-07T10:15:30.123456+01:00")
