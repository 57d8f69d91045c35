"""Pre-flight checks: is this PC ready to log sessions, and if not, what to do.

``nexus-logger doctor`` prints them; the window runs the same checks when starting a session
fails and shows the one that explains the failure (:func:`relevant_check`). Each check says
OK, or what is wrong and what to do, in words meant for the person at the PC or for IT:

* ``database``: the configured database opens and this account may write to it;
* ``schema``: its layout is NexusLIMS 2.x (2.8), the legacy 1.x layout, or unknown;
* ``station``: this PC is mapped to an instrument;
* ``clock``: the PC's clock is within :data:`CLOCK_TOLERANCE` of the database server's
  (PostgreSQL ``now()``) or of the file server's (SQLite: the time stamp of a small file
  written next to the database, which the share sets);
* ``bridge`` (PostgreSQL only): no finished session has waited longer than
  ``bridge_warn_hours`` for the bridge to copy it to NexusLIMS's file;
* ``outbox``: no START or END waits on this PC for the database;
* ``log``: the log folder can be written.

A check that makes no sense after an earlier failure (no schema without a database) is
*skipped*, which is not OK either. The checks never change anything in the database: the
write test runs in a transaction that is rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.core.errors import (
    ConfigError,
    DatabaseReadOnly,
    DatabaseUnavailable,
    NexusLoggerError,
    NotFound,
    SchemaError,
)
from nexus_logger.core.settings.config import Settings
from nexus_logger.core.setup.doctor_check import (
    CLOCK_TOLERANCE,
    DOCTOR_TIMEOUT,
    TITLES,
    Check,
    Clock,
    skip,
    utcnow,
)
from nexus_logger.core.setup.doctor_database import check_database, check_schema, check_station
from nexus_logger.core.setup.doctor_pc import check_log, check_outbox
from nexus_logger.core.setup.doctor_server import check_account, check_bridge, check_clock

if TYPE_CHECKING:
    from nexus_logger.core.db.engine import EngineLike

__all__ = [
    "CLOCK_TOLERANCE",
    "DOCTOR_TIMEOUT",
    "TITLES",
    "Check",
    "Clock",
    "check_account",
    "check_bridge",
    "check_clock",
    "check_database",
    "check_log",
    "check_outbox",
    "check_schema",
    "check_station",
    "format_checks",
    "problems",
    "relevant_check",
    "run_checks",
]

_logger = logging.getLogger(__name__)


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    """Run one check; an error it did not expect becomes that check's problem."""
    try:
        return run()
    except NexusLoggerError as err:
        return Check(name, False, str(err), "")
    except Exception as err:  # a check must never crash the whole report
        _logger.exception("Check %s failed unexpectedly", name)
        answer = getattr(err, "orig", None)  # a database's own words, unwrapped
        if answer is not None and str(answer).strip():
            said = str(answer).strip().splitlines()[0]
            return Check(
                name,
                False,
                f'The check could not finish: the database answered "{said}".',
                "Check the database's set-up (for PostgreSQL, run the script of "
                "docs/postgres-roles.md again as the owner); the log file has the whole error.",
            )
        return Check(name, False, f"The check failed unexpectedly: {err}.", "See the log file.")


def run_checks(
    settings: Settings,
    *,
    engine: EngineLike = None,
    hostname: str | None = None,
    clock: Clock = utcnow,
    outbox_path: Path | None = None,
) -> list[Check]:
    """Run every check, in order, and return them all (see the module docstring).

    ``engine`` overrides the database of ``settings``; ``hostname``, ``clock`` and
    ``outbox_path`` exist for tests (another PC's name, a skewed clock, another outbox).
    """
    checks: list[Check] = []
    database, eng = check_database(settings, engine)
    checks.append(database)
    try:
        if eng is None:
            checks.append(skip("schema", "the database cannot be opened"))
            checks.append(skip("station", "the database cannot be opened"))
            checks.append(skip("account", "the database cannot be opened"))
            checks.append(skip("clock", "the database cannot be opened"))
            checks.append(skip("bridge", "the database cannot be opened"))
        else:
            schema = _guarded("schema", lambda: check_schema(eng))
            checks.append(schema)
            if schema.ok:
                checks.append(_guarded("station", lambda: check_station(settings, eng, hostname)))
            else:
                checks.append(skip("station", "the database layout is not usable"))
            checks.append(_guarded("account", lambda: check_account(settings, eng, hostname)))
            checks.append(_guarded("clock", lambda: check_clock(eng, clock)))
            if schema.ok:
                hours = float(getattr(settings, "bridge_warn_hours", 24.0))
                checks.append(_guarded("bridge", lambda: check_bridge(eng, hours)))
            else:
                checks.append(skip("bridge", "the database layout is not usable"))
    finally:
        if eng is not None and engine is None:
            eng.dispose()
    folder = str(getattr(settings, "outbox_folder", "") or "")
    checks.append(_guarded("outbox", lambda: check_outbox(outbox_path, folder)))
    checks.append(_guarded("log", check_log))
    for check in checks:
        if not check.ok:
            _logger.info("doctor: %s %s: %s", check.status, check.name, check.message)
    return checks


def problems(checks: Sequence[Check]) -> list[Check]:
    """The checks that are not OK (problems and skipped ones)."""
    return [c for c in checks if not c.ok]


#: For an error of this type, the checks that explain it, most likely first.
_EXPLAINS: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (DatabaseReadOnly, ("database",)),
    (DatabaseUnavailable, ("database", "clock")),
    (SchemaError, ("schema", "database")),
    (NotFound, ("station", "schema")),
    (ConfigError, ("database",)),
)


def relevant_check(checks: Sequence[Check], error: BaseException | None = None) -> Check | None:
    """The failed check that best explains ``error`` (e.g. a start that failed), or None.

    The window calls this after a failed start to show the one check that matters; without
    an error, or when no check of the expected kind failed, the first real problem is used.
    """
    failed = [c for c in checks if not c.ok and not c.skipped]
    if not failed:
        return None
    if error is not None:
        for kind, names in _EXPLAINS:
            if isinstance(error, kind):
                for name in names:
                    for check in failed:
                        if check.name == name:
                            return check
                break
    return failed[0]


def format_checks(checks: Sequence[Check]) -> str:
    """Plain text, one block per check: ``OK``/``PROBLEM``/``SKIPPED``, then what to do."""
    width = max(len(c.status) for c in checks)
    title_width = max(len(c.title) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<{width}}  {check.title:<{title_width}}  {check.message}")
        if check.fix and (not check.ok or check.warning):
            lines.append(f"{'':<{width}}  {'':<{title_width}}  What to do: {check.fix}")
    bad = problems(checks)
    lines.append("")
    if bad:
        real = [c for c in bad if not c.skipped]
        lines.append(
            f"{len(real)} problem{'s' if len(real) != 1 else ''} found"
            + (f", {len(bad) - len(real)} check(s) skipped." if len(bad) > len(real) else ".")
        )
    else:
        lines.append("All checks passed: this PC is ready to log sessions.")
    return "\n".join(lines)
