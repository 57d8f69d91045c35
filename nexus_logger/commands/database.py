"""``init-db`` and ``sessions``: create a database, list its sessions."""

from __future__ import annotations

import argparse

from nexus_logger.commands._common import (
    add_format_option,
    engine_from_args,
    render_csv,
    render_json,
    render_table,
)
from nexus_logger.core import engine as engines
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.schema import init_db
from nexus_logger.core.session_handler import check_status
from nexus_logger.core.summaries import list_sessions

SESSION_COLUMNS = (
    "session_identifier",
    "instrument",
    "user",
    "start",
    "end",
    "status",
    "record_generation_events",
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init-db",
        parents=[common],
        help="create a new database with the NexusLIMS 2.8 schema",
        description="Create a database with exactly the NexusLIMS 2.8 schema. "
        "An existing NexusLIMS database is left unchanged.",
    )
    p.add_argument("database", metavar="DB", help="file path or SQLAlchemy URL")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("sessions", parents=[common], help="list sessions (one row per session)")
    p.add_argument(
        "--status",
        metavar="STATUS",
        help="only sessions with this status: " + ", ".join(s.value for s in RecordStatus),
    )
    p.add_argument("--instrument", metavar="PID", help="only sessions on this instrument")
    add_format_option(p, ("table", "json", "csv"))
    p.set_defaults(func=cmd_sessions)


def cmd_init_db(args: argparse.Namespace) -> int:
    engine = engines.get_engine(args.database, create=True)
    _created, message = init_db(engine)
    print(message)
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    status = check_status(args.status) if args.status else None
    engine = engine_from_args(args)
    rows = [
        s.as_dict() for s in list_sessions(status=status, instrument=args.instrument, engine=engine)
    ]
    if args.format == "json":
        print(render_json(rows))
    elif args.format == "csv":
        print(render_csv(rows, SESSION_COLUMNS))
    else:
        print(render_table(rows, SESSION_COLUMNS) if rows else "No sessions.")
    return 0
