"""``demo``: a local demo database with demo instruments, and the window opened on it.

A newcomer runs ``nexus-logger demo`` right after installing and sees a session start within
seconds. Whatever ``database`` is configured (a flag, the environment, the config file), the
demo uses only its own file in the user's data folder: it never touches a production database.
"""

from __future__ import annotations

import argparse
import logging

from nexus_logger.core.errors import DatabaseUnavailable, InvalidInput, NexusLoggerError

_logger = logging.getLogger(__name__)

#: How long the demo command waits for its file before opening the window anyway (seconds).
QUICK_LOOKUP_SECONDS = 2.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        help="open the window on a local demo database (never the configured one)",
        description="Create (once) a local SQLite database with demo instruments in several "
        "time zones, map this PC to one of them, and open the window on it. The configured "
        "database is never used or changed.",
    )
    p.add_argument("--config", metavar="FILE", help="config file for the other settings")
    p.add_argument(
        "--instrument",
        metavar="PID",
        default=argparse.SUPPRESS,
        help="demo instrument to use for this PC",
    )
    p.add_argument(
        "--no-window",
        action="store_true",
        help="only create the demo database and print where it is (no Qt needed)",
    )
    p.add_argument(
        "--reset",
        action="store_true",
        help="start the demo over (the old file is kept as demo.sqlite.old)",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.sessions.station import lookup_station, this_host
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.core.setup import demo

    path = demo.ensure_demo_database(reset=args.reset)
    # Validate the config file now (its other keys apply to the window too).
    settings = load_settings(getattr(args, "config", None))
    pids = demo.demo_pids()
    if args.instrument is not None and args.instrument not in pids:
        raise InvalidInput(
            f"{args.instrument!r} is not a demo instrument. Choose one of: {', '.join(pids)}."
        )
    try:
        # Briefly: a demo file another program holds locked must not keep the window from
        # opening for the whole lock timeout; the window then says what is wrong, where the
        # newcomer is looking (this line only went to the terminal, after 30 s of nothing).
        quick = engines.get_engine(str(path), timeout=QUICK_LOOKUP_SECONDS)
        mapped = lookup_station(engine=quick) or demo.DEMO_STATION
    except DatabaseUnavailable as err:
        _logger.warning("Demo: this PC's demo instrument not looked up: %s", err)
        mapped = demo.DEMO_STATION
    instrument = args.instrument
    if instrument is None and settings.instrument and settings.instrument not in pids:
        # The configured instrument is a real one: the demo uses this PC's demo instrument.
        instrument = mapped
    print(f"Demo database: {path}")
    print(f"Demo instruments: {', '.join(pids)}")
    if args.instrument is not None and args.instrument != mapped:
        # --instrument is for this run's window; the PC's own demo instrument stays as it is.
        print(f"This run uses {args.instrument}; this PC ({this_host()}) is {mapped} in the demo.")
    else:
        print(f"This PC ({this_host()}) is {instrument or mapped} in the demo.")
    if not settings.using_default_database or getattr(args, "db", None):
        print("The configured database is not used by the demo.")
    if args.no_window:
        return 0
    args.db = str(path)
    args.instrument = instrument
    try:
        from nexus_logger.gui.app import run_app  # Qt is imported only here
    except ImportError as err:
        raise NexusLoggerError(
            f"The window cannot be opened here ({err}). The demo database is ready; use "
            "'nexus-logger demo --no-window' on a machine without a display."
        ) from None
    return run_app(args)
