"""The outcome of one pre-flight check, and what the checks share (their names, limits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nexus_logger.core.settings.config import Settings

#: The largest difference between this PC's clock and the database's that is still OK.
CLOCK_TOLERANCE = timedelta(minutes=2)
#: Doctor waits at most this long for a locked file or an unreachable server.
DOCTOR_TIMEOUT = 5.0

#: Check names, in the order they run, with the title shown to people.
TITLES = {
    "database": "Database reachable and writable",
    "schema": "Database layout",
    "station": "This PC's instrument",
    "account": "Database account and rights",
    "clock": "Clock",
    "bridge": "Bridge to NexusLIMS",
    "outbox": "Outbox",
    "log": "Log folder",
}

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok``, a ``message`` saying what was found, a ``fix``."""

    name: str
    ok: bool
    message: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False  # ok, but worth a look (e.g. an account with more rights than needed)

    @property
    def title(self) -> str:
        """The heading shown to people."""
        return TITLES.get(self.name, self.name)

    @property
    def status(self) -> str:
        """``OK``, ``WARNING``, ``PROBLEM`` or ``SKIPPED``."""
        if self.ok:
            return "WARNING" if self.warning else "OK"
        return "SKIPPED" if self.skipped else "PROBLEM"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {**asdict(self), "title": self.title, "status": self.status}


def utcnow() -> datetime:
    """The real clock (checks take another one in tests)."""
    return datetime.now(UTC)


def skip(name: str, why: str) -> Check:
    """A check not run because an earlier one failed (not OK either)."""
    return Check(name, False, f"Not checked: {why}.", "", skipped=True)


def where_set(settings: Settings, key: str) -> str:
    """Where the setting ``key`` came from, for a sentence ('by default', 'from the ...')."""
    source = settings.sources.get(key, "default")
    return "by default" if source == "default" else f"from the {source}"
