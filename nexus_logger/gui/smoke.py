"""``nexus-logger --smoke``: the self-test of an installed or freshly built app.

A build can succeed and still be broken: a Qt plugin, a database driver or the time-zone
data left out by the packager only shows when the app runs. The smoke test runs the real
thing, headless, in a throw-away world, so that CI, ``packaging/build.py`` and IT (on an
instrument PC, over remote desktop) can check a build in seconds:

1. the drivers load: SQLite, psycopg's compiled implementation with SQLAlchemy's dialect,
   the time-zone database, the icon files;
2. a temporary NexusLIMS database is created with one test instrument;
3. the real main window is shown (offscreen) and its timing reported;
4. the window starts a session through its database worker and the durable logger, exactly
   as at a normal launch, then its *End session* button is clicked;
5. NexusLIMS's own pairing rule is checked: ``get_sessions_to_build()`` returns the session
   with the START's user.

Nothing outside a temporary folder is touched: the configuration, the outbox of events kept
while the database was away, the heartbeat file and the session all live there, so running
it on an instrument PC in use neither sends that PC's saved events nor shows a session to
NexusLIMS. Only the log file is the real one (what the smoke test did is worth keeping).
Exit status 0 when every step passed; 1 with a message naming the failed step otherwise.
Steps 3 and 4, and the check of step 5 on the window's worker, are in ``smoke_window.py``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_logger = logging.getLogger(__name__)

#: The test instrument: a half-hour UTC offset proves the bundled zone data is complete.
SMOKE_INSTRUMENT = ("SMOKE-TEST-001", "Smoke-test instrument", "Asia/Kolkata")
#: Each step gives up after this long (a locked temporary file would be a bug, not a wait).
STEP_TIMEOUT_SECONDS = 60.0
#: Settings the smoke test must not inherit from the PC it runs on.
_ISOLATED_ENV = (
    "NEXUS_LOGGER_DB",
    "NX_DB_PATH",
    "NEXUS_LOGGER_CONFIG",
    "NEXUS_LOGGER_INSTRUMENT",
    "NEXUS_LOGGER_AUTO_CLOSE_SECONDS",
    "NEXUS_LOGGER_HEARTBEAT_SECONDS",
    "NEXUS_LOGGER_DB_TIMEOUT_SECONDS",
    "NEXUS_LOGGER_STARTUP_PROBE",
    "NEXUS_LOGGER_DATA_ROOT",
    "NX_INSTRUMENT_DATA_PATH",
    # The PC's outbox and its record of running sessions live there: not the smoke test's.
    "NEXUS_LOGGER_OUTBOX_FOLDER",
)


class SmokeFailure(Exception):
    """A smoke step failed; ``str()`` names the step and what went wrong."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass
class SmokeReport:
    """What a passing smoke test measured (also printed)."""

    window_shown_at: float = 0.0  # time.time() when the window was first exposed
    window_seconds: float = 0.0  # from the start of run_smoke to the window on screen
    session_identifier: str = ""
    user: str = ""
    total_seconds: float = 0.0


class _QtMessages(logging.Handler):
    """Collects Qt's warnings during the smoke test: worth showing, though not failures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def say(message: str, *, error: bool = False) -> None:
    """Print a progress line (a windowed Windows build has no stdout: then only the log)."""
    (_logger.error if error else _logger.info)("smoke: %s", message)
    stream = sys.stderr if error else sys.stdout
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"smoke: {message}\n")
            stream.flush()


@contextlib.contextmanager
def _isolated_environment(home: Path) -> Iterator[None]:
    """Point every per-user and machine-wide file at ``home``, drop inherited settings;
    restore afterwards."""
    homes = ("NEXUS_LOGGER_HOME", "NEXUS_LOGGER_MACHINE_DIR")
    saved = {name: os.environ.get(name) for name in (*_ISOLATED_ENV, *homes)}
    saved["QT_QPA_PLATFORM"] = os.environ.get("QT_QPA_PLATFORM")
    for name in _ISOLATED_ENV:
        os.environ.pop(name, None)
    os.environ["NEXUS_LOGGER_HOME"] = str(home)
    # Not the PC's machine-wide folder either: its config and its outbox stay untouched.
    os.environ["NEXUS_LOGGER_MACHINE_DIR"] = str(home / "machine")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless even on a desktop
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_drivers() -> str:
    """Load every driver the app may need; return a one-line summary or raise SmokeFailure."""
    import sqlite3
    import zoneinfo

    import sqlalchemy
    from sqlalchemy import create_engine

    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as conn:
            conn.execute("SELECT 1").fetchone()
    except sqlite3.Error as err:
        raise SmokeFailure("drivers", f"SQLite does not work ({err})") from err
    try:
        import psycopg

        impl = psycopg.pq.__impl__
        libpq_number = psycopg.pq.version()
        libpq = f"{libpq_number // 10000}.{libpq_number % 10000}"
    except Exception as err:
        raise SmokeFailure("drivers", f"psycopg (PostgreSQL) cannot be loaded ({err})") from err
    if impl not in ("binary", "c"):
        raise SmokeFailure(
            "drivers",
            f"psycopg uses its '{impl}' implementation, which needs a libpq installed on the "
            "PC; the app must carry psycopg-binary",
        )
    try:  # the dialect is imported by name when an engine is made; no connection is opened
        create_engine("postgresql+psycopg://smoke@localhost/smoke").dispose()
        create_engine("sqlite://").dispose()
    except Exception as err:
        raise SmokeFailure("drivers", f"SQLAlchemy cannot load a dialect ({err})") from err
    zone = SMOKE_INSTRUMENT[2]
    try:
        tzdata = importlib.resources.files("tzdata").joinpath("zoneinfo", *zone.split("/"))
        if not tzdata.is_file():
            raise FileNotFoundError(str(tzdata))
        zoneinfo.ZoneInfo(zone)
    except Exception as err:
        raise SmokeFailure(
            "drivers", f"the time-zone data (tzdata) is incomplete: {zone} ({err})"
        ) from err
    return (
        f"SQLite {sqlite3.sqlite_version}, psycopg {psycopg.__version__} ({impl}, libpq "
        f"{libpq}), SQLAlchemy {sqlalchemy.__version__}, tzdata {_version_of('tzdata')}"
    )


def _version_of(module: str) -> str:
    try:
        return str(getattr(importlib.import_module(module), "__version__", "?"))
    except ImportError:
        return "missing"


def create_database(target: str | None, folder: Path) -> str:
    """A new NexusLIMS database with the smoke-test instrument; returns its path or URL.

    A database given with ``--db`` must be new and empty: the smoke test adds a test
    instrument and a session, which must never reach a production NexusLIMS database.
    """
    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import Layout, init_db, inspect_schema

    if target is None:
        target = str(folder / "smoke.sqlite")
    else:
        layout = inspect_schema(engines.get_engine(target, create=True), refresh=True).layout
        if layout is not Layout.EMPTY:
            raise SmokeFailure(
                "database",
                f"{engines.describe(target)} already has tables ({layout}). The smoke test "
                "writes a test instrument and session: give it a new, empty database.",
            )
    init_db(target)
    pid, name, zone = SMOKE_INSTRUMENT
    add_instrument(pid, display_name=name, timezone=zone, location="nowhere", engine=target)
    return target


def verify_session(target: str, session_identifier: str, user: str) -> None:
    """NexusLIMS would build exactly this session, paired with the START's user."""
    from sqlalchemy import select

    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.db.models import session_log
    from nexus_logger.core.session_handler import get_sessions_to_build

    try:
        sessions = get_sessions_to_build(engine=target)
    except ValueError as err:  # NexusLIMS's own failure when START and END do not pair
        raise SmokeFailure("verify", f"NexusLIMS could not pair the rows: {err}") from err
    found = [(s.session_identifier, s.user) for s in sessions]
    if found != [(session_identifier, user)]:
        raise SmokeFailure(
            "verify",
            f"expected one session to build, {session_identifier} by {user}; found {found}",
        )
    log = session_log.c  # the Core table quotes "user" (a keyword in PostgreSQL)
    with engines.read_connection(engines.get_engine(target)) as conn:
        rows = conn.execute(
            select(log.event_type, log.record_status, log.user)
            .where(log.session_identifier == session_identifier)
            .order_by(log.id_session_log)
        ).all()
    expected = [("START", "TO_BE_BUILT", user), ("END", "TO_BE_BUILT", user)]
    if [tuple(r) for r in rows] != expected:
        raise SmokeFailure("verify", f"session_log rows are {rows}, expected {expected}")


def run_smoke(*, database: str | None = None, timeout: float = STEP_TIMEOUT_SECONDS) -> int:
    """Run the self-test; return the process exit code (0: everything works).

    ``database`` replaces the temporary SQLite file with a new, empty database (for example
    a PostgreSQL URL) to check that driver end to end.
    """
    began = time.perf_counter()
    report = SmokeReport()
    from PySide6.QtCore import qInstallMessageHandler

    from nexus_logger import __version__
    from nexus_logger.core.db import engine as engines
    from nexus_logger.gui import qtlog

    frozen = "frozen" if getattr(sys, "frozen", False) else "from source"
    say(f"nexus-logger {__version__} ({frozen}), Python {sys.version.split()[0]}, {sys.platform}")
    qt_messages = _QtMessages()
    qtlog.qt_logger.addHandler(qt_messages)
    previous_handler = qtlog.install()
    tmp = tempfile.TemporaryDirectory(prefix="nexus-logger-smoke-", ignore_cleanup_errors=True)
    try:
        with tmp, _isolated_environment(Path(tmp.name) / "home"):
            say(f"drivers: {check_drivers()}")
            target = create_database(database, Path(tmp.name))
            say(f"database: created {engines.describe(target)} with {SMOKE_INSTRUMENT[0]}")
            # Qt's widgets load here, inside the try: a build missing one is reported, not a
            # traceback.
            from nexus_logger.gui.smoke_window import run_window

            run_window(target, report, began, timeout)
            engines.dispose_engines()  # release the files before the folder is removed
    except SmokeFailure as err:
        say(f"FAILED at {err}", error=True)
        return 1
    except Exception as err:  # anything else is a failure too, with its traceback logged
        _logger.exception("Smoke test failed unexpectedly")
        say(f"FAILED: {type(err).__name__}: {err}", error=True)
        return 1
    finally:
        engines.set_default_database(None)
        engines.dispose_engines()
        qInstallMessageHandler(previous_handler)
        qtlog.qt_logger.removeHandler(qt_messages)
        for message in qt_messages.messages:
            say(f"Qt said: {message}")
    report.total_seconds = time.perf_counter() - began
    say(f"OK in {report.total_seconds:.2f} s")
    return 0
