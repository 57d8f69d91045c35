"""Which session times are believable: the rules every start and end time passes first.

A START or END with a wrong time does harm that lasts: NexusLIMS builds a record from every file
written between the two, so a start in the future blocks the instrument for ever and an end in
the future sweeps in other people's files. So, before anything is written:

* a time a person gave without an offset is read in the instrument's zone, and refused when that
  local time does not exist (clocks go forward) or happens twice (clocks go back), naming both
  readings, rather than silently shifted;
* a time more than the clock-skew tolerance (``clock_skew_minutes``) ahead of now is refused;
* a time before 1970 or in the year 9999 is refused, and so is a time a person typed that is
  older than the back-fill limit (``backfill_days``). Events kept on this PC while the database
  was away are sent with their original time, however old: the limit is for typing mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nexus_logger.core import timestamps
from nexus_logger.core.errors import InvalidInput

__all__ = ["DEFAULT_RULES", "TimeRules", "localize"]

_FIRST_YEAR = 1970
_LAST_YEAR = 9998


@dataclass(frozen=True)
class TimeRules:
    """How far ahead of now a time may be, and how far back a typed time may reach."""

    skew: timedelta = timedelta(minutes=5)
    backfill: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, settings: Any) -> TimeRules:
        """The rules of the effective configuration (``clock_skew_minutes``, ``backfill_days``)."""
        return cls(
            skew=timedelta(minutes=float(settings.clock_skew_minutes)),
            backfill=timedelta(days=float(settings.backfill_days)),
        )

    def check(self, value: datetime, what: str, *, typed: bool) -> None:
        """Refuse an implausible ``value`` (aware) for ``what`` ("start time", "end time").

        ``typed`` is True for a time a person gave (``--at``, a dialog): the back-fill limit
        applies to it too.
        """
        check_year(value, what)
        now = datetime.now(UTC)
        if value > now + self.skew:
            raise InvalidInput(
                f"The {what} {value.isoformat()} is in the future (more than "
                f"{_minutes(self.skew)} ahead of this PC's clock). Give the time the session "
                "really began or ended, now at the latest, or check this PC's clock."
            )
        if typed and value < now - self.backfill:
            raise InvalidInput(
                f"The {what} {value.isoformat()} is more than {self.backfill.days} days ago, "
                "older than the back-fill limit (setting backfill_days). Check the date; staff "
                "can raise the limit for a real back-fill."
            )


DEFAULT_RULES = TimeRules()


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} minute{'s' if minutes != 1 else ''}"


def check_year(value: datetime, what: str) -> None:
    """Refuse a time before 1970 or in the year 9999 (before any time-zone arithmetic)."""
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        raise InvalidInput(
            f"The {what} {value.isoformat()} is not a believable session time (the year must be "
            f"between {_FIRST_YEAR} and {_LAST_YEAR}). Check the date."
        )


def localize(value: datetime, tz_name: str | None, what: str = "time") -> datetime:
    """``value`` as an aware datetime; a naive one is read in ``tz_name``, strictly.

    A local time that does not exist in that zone (the hour skipped when clocks go forward) or
    that happens twice (the hour repeated when they go back) is refused with both readings
    named, so the person says which one they meant by giving the offset.
    """
    check_year(value, what)
    if value.tzinfo is not None:
        return value
    zone = timestamps.zone(tz_name)
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    readings = " or ".join(_reading(d, zone) for d in (first, second))
    shown = value.isoformat(sep=" ", timespec="minutes")
    if _exists(first, value) and _exists(second, value):
        raise InvalidInput(
            f"The {what} {shown} happens twice in {tz_name} (the clocks go back that night): "
            f"it is {readings}. Give the time with its offset."
        )
    raise InvalidInput(
        f"The {what} {shown} does not exist in {tz_name} (the clocks go forward that night); "
        f"it could mean {readings}. Give the time with its offset."
    )


def _exists(aware: datetime, naive: datetime) -> bool:
    return aware.astimezone(UTC).astimezone(aware.tzinfo).replace(tzinfo=None) == naive


def _reading(aware: datetime, zone: Any) -> str:
    text = aware.isoformat(timespec="minutes")
    actual = aware.astimezone(UTC).astimezone(zone)
    if actual.replace(tzinfo=None) != aware.replace(tzinfo=None):
        text += f" (= {actual:%H:%M} {actual.tzname()})"
    return text
