"""``init-db`` and ``sessions``: create a database, list its sessions."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any

from nexus_logger.commands._common import (
    add_action,
    add_config_option,
    add_format_option,
    engine_from_args,
    positive_int,
    render_csv,
    render_json,
    render_table,
    settings_from_args,
)
from nexus_logger.core.db import engine as engines
from nexus_logger.core.db.schema import init_db
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.session_handler import check_status
from nexus_logger.core.staff.summaries import CSV_COLUMNS, SessionQuery, csv_row, query_sessions

SESSION_COLUMNS = (
    "session_identifier",
    "instrument",
    "user",
    "start",
    "end",
    "status",
    "record_generation_events",
)


def _day(text: str) -> date:
    """A ``--from``/``--to`` value: a calendar day, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it like 2025-01-06"
        ) from None


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    # init-db names its database once, as its argument: a second way (--db) to say the
    # same thing only invites "which one wins?". --config stays (it sets the log level).
    only_config = argparse.ArgumentParser(add_help=False)
    add_config_option(only_config, "config file (only its log_level is used here)")
    p = add_action(
        sub,
        "init-db",
        cmd_init_db,
        parents=[only_config],
        help_text="create a new database with the NexusLIMS 2.8 schema",
        description="Create a database with exactly the NexusLIMS 2.8 schema (the tables, "
        "constraints and Alembic revision NexusLIMS itself creates; on PostgreSQL also the "
        "open-session check's index nexus_logger_open_start). An existing NexusLIMS database "
        "keeps its tables as they are (on PostgreSQL it gets that index if it lacks it); "
        "anything else is refused.",
    )
    p.add_argument(
        "database",
        metavar="DB",
        help="the new database: an SQLite file path or a PostgreSQL SQLAlchemy URL",
    )
    _add_sessions(sub, common)


def _add_sessions(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_action(
        sub,
        "sessions",
        cmd_sessions,
        parents=[common],
        help_text="list sessions (one row per session)",
        description="List the sessions of the database, oldest first, one row per session: "
        "identifier, instrument, user, start and end as stored, status and the number of "
        "RECORD_GENERATION events. The CSV format has the columns of the Admin tab's Export "
        "CSV (with duration in seconds and the note). Dates are each instrument's own "
        "calendar day.",
    )
    p.add_argument(
        "--status",
        metavar="STATUS",
        help="only sessions with this status: " + ", ".join(s.value for s in RecordStatus),
    )
    p.add_argument(
        "--instrument",
        metavar="PID",
        default=argparse.SUPPRESS,
        help="only sessions on this instrument",
    )
    p.add_argument(
        "--from",
        dest="date_from",
        metavar="DAY",
        type=_day,
        help="only sessions that started on or after this day (YYYY-MM-DD)",
    )
    p.add_argument(
        "--to",
        dest="date_to",
        metavar="DAY",
        type=_day,
        help="only sessions that started on or before this day (YYYY-MM-DD)",
    )
    p.add_argument(
        "--limit",
        metavar="N",
        type=positive_int,
        help="only the newest N sessions (still listed oldest first)",
    )
    p.add_argument(
        "--files",
        action="store_true",
        help="for each TO_BE_BUILT session, the files NexusLIMS would find under the data root "
        "(setting data_root, NX_INSTRUMENT_DATA_PATH) and the predicted outcome "
        "(NO_FILES_FOUND when there are none)",
    )
    add_format_option(p, ("table", "json", "csv"))


def cmd_init_db(args: argparse.Namespace) -> int:
    if getattr(args, "db", None):
        raise InvalidInput(
            "init-db takes the database as its argument only: nexus-logger init-db DB "
            "(without --db)."
        )
    engine = engines.get_engine(args.database, create=True)
    _created, message = init_db(engine)
    print(message)
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    status = check_status(args.status) if args.status else None
    query = SessionQuery(
        statuses=None if status is None else frozenset({status.value}),
        instrument=args.instrument,
        date_from=args.date_from,
        date_to=args.date_to,
        sort="start",
        descending=args.limit is not None,  # the newest N, turned round below
    )
    engine = engine_from_args(args)
    now = datetime.now(UTC)
    summaries = query_sessions(query, limit=args.limit, now=now, engine=engine)
    if not summaries and args.instrument:
        _require_known(args.instrument, engine)
    if args.limit is not None:
        summaries.reverse()
    files = _files_of(args, summaries, engine) if args.files else {}
    if args.format == "json":
        print(
            render_json([{**s.as_dict(), **files.get(s.session_identifier, {})} for s in summaries])
        )
    elif args.format == "csv":
        rows = [{**csv_row(s, now), **_file_cells(files, s)} for s in summaries]
        print(render_csv(rows, CSV_COLUMNS + (FILE_COLUMNS if args.files else ())))
    else:
        rows = [{**s.as_dict(), **_file_cells(files, s)} for s in summaries]
        columns = SESSION_COLUMNS + (FILE_COLUMNS if args.files else ())
        print(render_table(rows, columns) if rows else "No sessions.")
    return 0


def _require_known(pid: str, engine: Any) -> None:
    """An instrument with no sessions listed must at least exist: a misspelt one (or one in
    another case) said "No sessions." as if the instrument had been idle. One missing from
    ``instruments`` that has sessions is listed all the same (NexusLIMS's staff may have
    removed it since)."""
    from nexus_logger.core.db.engine import describe
    from nexus_logger.core.db.schema import load_instruments
    from nexus_logger.core.errors import UnknownInstrument

    known = load_instruments(engine)
    if pid not in known:
        raise UnknownInstrument.named(pid, describe(engine), known)


#: The columns ``--files`` adds to the table and the CSV.
FILE_COLUMNS = ("files", "total_bytes", "newest_file", "predicted")


def _files_of(args: argparse.Namespace, summaries: list, engine: Any) -> dict[str, dict]:
    """``{session: {"files": report}}`` for the TO_BE_BUILT sessions listed (JSON values).

    When the data root cannot be reached, the reason is printed once (on stderr, so that
    the JSON or CSV on stdout stays whole) and every prediction is UNKNOWN.
    """
    from nexus_logger.core.db.schema import load_instruments
    from nexus_logger.core.files.filestore import data_root_problem
    from nexus_logger.core.files.filestore_pending import reports_for
    from nexus_logger.core.files.filestore_rules import FileRules

    settings = settings_from_args(args)
    problem = data_root_problem(settings.data_root)
    if problem:
        print(problem, file=sys.stderr)
    instruments = load_instruments(engine)
    pending = [s for s in summaries if s.status == RecordStatus.TO_BE_BUILT.value]
    rules = FileRules.from_settings(settings)
    found = reports_for(pending, instruments, settings.data_root, rules, problem)
    return {sid: {"files": report.as_dict(zone=zone)} for sid, (report, zone) in found.items()}


def _file_cells(files: dict[str, dict], summary: Any) -> dict[str, Any]:
    """The ``--files`` columns of one row (empty for a session that is not pending)."""
    data = files.get(summary.session_identifier, {}).get("files")
    if data is None:
        return {}
    count = data["files"]
    if count is not None and not data["complete"]:
        count = f"at least {count}"
    return {
        "files": count,
        "total_bytes": data["total_bytes"],
        "newest_file": data["newest_file"],
        "predicted": data["predicted"],
    }
