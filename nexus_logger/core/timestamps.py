"""Timestamps as NexusLIMS 2.x writes and reads them.

NexusLIMS stores ``datetime.isoformat()`` of a timezone-aware datetime (for example
``2025-01-06T08:06:34-05:00``) and reads with ``datetime.fromisoformat``. Older databases hold
naive local times; those are interpreted in the instrument's time zone, which is the only
reading under which they mean anything.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class TimestampError(ValueError):
    """Raised for text that is not an ISO-8601 timestamp."""


@lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    """Return the ``ZoneInfo`` for an IANA name; unknown or empty names fall back to UTC.

    The name is matched without regard to case, as NexusLIMS matches it (``pytz.timezone``):
    an instrument whose zone is written ``europe/berlin`` is in Berlin for NexusLIMS, so it must
    be for nexus-logger too, not in UTC (typed times were stored hours off). Uses the
    ``tzdata`` package where the OS has no zone database (Windows).
    """
    canonical = canonical_zone(name) if name else None
    return ZoneInfo(canonical) if canonical else UTC


def canonical_zone(name: str) -> str | None:
    """The name of a zone this machine knows, given in any case (``europe/berlin``: the
    IANA spelling ``Europe/Berlin``), or None when no zone has that name."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Listing every zone takes tens of milliseconds: only for a name not found as written.
        return _zone_names_by_lower_case().get(name.lower())
    if sys.platform in ("win32", "darwin"):
        # Their file systems find 'america/new_york' as written: take the IANA spelling.
        return _zone_names_by_lower_case().get(name.lower(), name)
    return name


@lru_cache(maxsize=1)
def _zone_names_by_lower_case() -> dict[str, str]:
    return {known.lower(): known for known in available_timezones()}


def zone_name(tz: object) -> str | None:
    """The IANA name of a zone given as text, ``ZoneInfo`` (``key``) or pytz zone (``zone``).

    ``None`` for a tzinfo without a known name (a fixed UTC offset, for example).
    """
    if isinstance(tz, str):
        return tz.strip()
    for candidate in (getattr(tz, "key", None), getattr(tz, "zone", None), str(tz)):
        if isinstance(candidate, str) and is_valid_zone(candidate):
            return candidate
    return None


def as_zone(tz: str | tzinfo | None) -> tzinfo:
    """A ``ZoneInfo`` for an IANA name or a named tzinfo; other tzinfos as given.

    NexusLIMS's ``Instrument.timezone`` is a pytz zone, nexus-logger's rows hold the name: both
    are accepted wherever a time zone is asked for. A pytz zone is replaced by the ``ZoneInfo``
    of its name because ``datetime.replace(tzinfo=<pytz zone>)`` silently gives the zone's
    first historical offset (local mean time), not the right one.
    """
    if isinstance(tz, tzinfo):
        name = zone_name(tz)
        return zone(name) if name else tz
    return zone(tz)


def on_this_pc(value: datetime, local: tzinfo | None = None) -> str:
    """``value`` on this PC's clock, as ``2026-03-10 14:30:12 CET``.

    Windows names its zones in words ("W. Europe Standard Time", or in the PC's language):
    too long for a table cell, so such a name is given as its offset (``UTC+01:00``).
    ``local`` stands in for this PC's zone (tests).
    """
    shown = value.astimezone(local)  # (None: this PC's zone)
    name = shown.tzname() or ""
    if not name or " " in name or len(name) > 6:
        offset = shown.strftime("%z")
        name = f"UTC{offset[:3]}:{offset[3:5]}" if offset else "UTC"
    return f"{shown:%Y-%m-%d %H:%M:%S} {name}"


def seconds_between(earlier: datetime, later: datetime) -> float:
    """Real seconds from ``earlier`` to ``later`` (negative when ``later`` is earlier).

    Python subtracts and compares two datetimes that share one tzinfo (an instrument's
    ``ZoneInfo``) by their wall clocks, ignoring ``fold``: in the hour a clock repeats in
    autumn, 01:10 EST came out 40 minutes *before* 01:50 EDT, and an END twenty minutes
    after its START was refused. Both are taken to UTC first.
    """
    return (later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds()


def is_valid_zone(name: str) -> bool:
    """True when ``name`` is an IANA time zone this machine knows (in any case, as
    NexusLIMS reads it)."""
    return bool(name) and canonical_zone(name) is not None


def now_in(tz_name: str | tzinfo | None) -> datetime:
    """The current instant as an aware datetime in the named zone."""
    return datetime.now(as_zone(tz_name))


def to_db(value: datetime, tz_name: str | tzinfo | None = None) -> str:
    """Format a datetime the way NexusLIMS stores it: aware ISO-8601 in the instrument's zone.

    A naive ``value`` is taken to be in ``tz_name`` (the instrument's zone).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=as_zone(tz_name))
    elif tz_name:
        value = value.astimezone(as_zone(tz_name))
    return value.isoformat()


def parse(text: str | datetime, tz_name: str | tzinfo | None = None) -> datetime:
    """Parse stored text into an aware datetime.

    Accepts what NexusLIMS accepts: an offset, ``Z``, a space instead of ``T``, and naive
    values (interpreted in ``tz_name``).
    """
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(text.strip())
        except (ValueError, AttributeError):
            raise TimestampError(f"{text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is None:
        value = on_wall_clock(value, as_zone(tz_name))
    return value


def on_wall_clock(naive: datetime, tz: tzinfo, *, is_dst: bool = False) -> datetime:
    """A naive wall-clock time in ``tz``, read as NexusLIMS reads a 1.x time.

    NexusLIMS localizes naive times with pytz's ``localize`` (``is_dst=False``): in the hour a
    clock repeats in autumn that is the second pass (standard time), in the hour it skips in
    spring the standard offset. ``replace(tzinfo=...)`` alone takes the first pass, an hour
    away from what NexusLIMS builds for.
    """
    readings = [naive.replace(tzinfo=tz, fold=fold) for fold in (0, 1)]
    if readings[0].utcoffset() == readings[1].utcoffset():
        return readings[0]
    if readings[0].astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        # Skipped by the clock: pytz takes the offset from before the change (after it with
        # is_dst), whatever the zone calls daylight time (Dublin's winter time is "negative
        # DST" in the zone database).
        return readings[1] if is_dst else readings[0]
    for reading in readings:
        if bool(reading.dst()) == is_dst:
            return reading
    return readings[0]


def parse_or_none(text: str | None, tz_name: str | tzinfo | None = None) -> datetime | None:
    """:func:`parse`, or ``None`` when the text is absent or not a timestamp (for reading
    what others stored, where an unreadable value is reported elsewhere, not raised)."""
    if text is None:
        return None
    try:
        return parse(text, tz_name)
    except TimestampError:
        return None


def is_naive(text: str) -> bool:
    """True when stored text carries no UTC offset (a NexusLIMS 1.x style local time)."""
    try:
        return datetime.fromisoformat(text.strip()).tzinfo is None
    except ValueError:
        return False


def sort_key(text: str, tz_name: str | None = None) -> float:
    """A number that orders stored timestamps by the instant they name; unparsable text last."""
    try:
        return parse(text, tz_name).timestamp()
    except TimestampError:
        return float("inf")
