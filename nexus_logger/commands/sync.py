"""``sync``: send the events kept on this PC, show what waits, mark conflicts handled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.commands._common import (
    add_format_option,
    durable_from_args,
    render_json,
    render_table,
    settings_from_args,
)
from nexus_logger.core.offline.outbox import Outbox

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import DurableLogger

EVENT_COLUMNS = ("id", "kind", "state", "session_identifier", "instrument", "user", "time")
CONFLICT_COLUMNS = ("id", "kind", "session_identifier", "instrument", "found", "handled_by")

#: Exit code when events are still waiting because the database could not take them now.
EXIT_WAITING = 3

_EPILOG = """\
Without an option, sends every event kept on this PC to its database now, in order (the
window also does this by itself). Exit code 0: nothing is waiting for the database; 3: some
events could not be sent now (they stay saved and are sent later), or are held for a
conflict that staff must look at (see --status).

Conflicts (a START while another session was opened meanwhile, a late START overlapping a
session logged meanwhile, an END whose START is missing, an END for a session staff had
ended) are resolved as described in docs/outbox.md and stay
listed by --status until someone marks them handled with --resolve ID.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sync",
        parents=[common],
        help="send events saved on this PC while the database was away",
        description="Send, list or settle the events kept in this PC's local outbox.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--status",
        action="store_true",
        help="list waiting events and open conflicts (does not contact the database)",
    )
    action.add_argument(
        "--resolve", metavar="ID", type=int, help="mark conflict ID handled (by your login)"
    )
    action.add_argument(
        "--retry", metavar="ID", type=int, help="put held event ID back in line and send now"
    )
    p.add_argument("--note", metavar="TEXT", help="with --resolve: what was done about it")
    p.add_argument("--all", action="store_true", help="with --status: include handled conflicts")
    add_format_option(p, ("table", "json"))
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    if args.resolve is not None:
        from nexus_logger.core.offline.durable import os_login

        outbox = _outbox(args)
        before = {c.id: c for c in outbox.conflicts(include_handled=True)}.get(args.resolve)
        record = outbox.resolve(args.resolve, by=os_login(), note=args.note)
        if args.format == "json":
            print(render_json(record.as_dict()))
        elif before is not None and before.handled:
            # Handled before: nothing changes, and a note given now is not kept (it read as
            # if this call had marked it, the note silently dropped).
            print(
                f"Conflict {record.id} was already marked handled (by {record.handled_by}, "
                f"{record.handled_at}); nothing was changed"
                + (", and the note was not added." if args.note else ".")
            )
        else:
            print(f"Conflict {record.id} is marked handled (by {record.handled_by}).")
        return 0
    durable = durable_from_args(args)
    if durable.outbox_place_problem:
        print(f"Warning: {durable.outbox_place_problem}", file=sys.stderr)
    report = durable.retry(args.retry) if args.retry is not None else durable.sync()
    if args.format == "json":
        print(
            render_json(
                {
                    "sent": report.sent,
                    "pending": report.pending,
                    "error": report.error,
                    "busy": report.busy,
                    "conflicts": [c.as_dict() for c in report.conflicts],
                    "message": report.message,
                }
            )
        )
    else:
        print(report.message)
        for record in report.conflicts:
            print(f"  conflict {record.id} ({record.kind}): {record.message}")
        _tell_elsewhere(durable)
    damaged = _tell_damaged(durable.outbox.path)
    # 0 only when nothing waits (held events count: they are not in the database; so may a
    # damaged outbox kept aside) and no other process is still sending (docs/outbox.md).
    return 0 if report.complete and not damaged else EXIT_WAITING


def _tell_elsewhere(durable: DurableLogger) -> None:
    """Events this PC keeps for another database (kept while ``--db`` or the setting named
    another one) are not this command's to send; the summary above is about this database
    only, and these would otherwise go unmentioned."""
    outbox = durable.outbox
    elsewhere = outbox.pending_count() - outbox.pending_count(durable.database_key)
    if elsewhere:
        print(
            f"{elsewhere} more event{'s wait' if elsewhere != 1 else ' waits'} on this PC for "
            "another database: 'nexus-logger sync --status' names it; 'nexus-logger sync --db "
            "THAT-DATABASE' sends them."
        )


def _tell_damaged(path: Path) -> list[Path]:
    """Name the damaged outbox files kept beside ``path`` on stderr (events in them were never
    sent: "everything is in the database" alone would not be true)."""
    from nexus_logger.core.offline.outbox_file import damaged_copies, damaged_notice

    copies = damaged_copies(path)
    for copy in copies:
        print(f"Warning: {damaged_notice(copy)}", file=sys.stderr)
    return copies


def _outbox(args: argparse.Namespace) -> Outbox:
    """This PC's outbox (or this login's own, with a warning on stderr: see outbox_place)."""
    from nexus_logger.core.offline.outbox_place import open_outbox

    outbox, place = open_outbox(settings_from_args(args).outbox_folder)
    if place.problem:
        print(f"Warning: {place.problem}", file=sys.stderr)
    return outbox


def _status(args: argparse.Namespace) -> int:
    from nexus_logger.core.offline.outbox_file import damaged_copies

    outbox = _outbox(args)
    events = outbox.items()
    conflicts = outbox.conflicts(include_handled=args.all)
    if args.format == "json":
        print(
            render_json(
                {
                    "outbox": str(outbox.path),
                    "pending": len(events),
                    "events": [e.as_dict() for e in events],
                    "conflicts": [c.as_dict() for c in conflicts],
                    "damaged_copies": [str(c) for c in damaged_copies(outbox.path)],
                }
            )
        )
        return 0
    print(f"Outbox: {outbox.path}")
    damaged = _tell_damaged(outbox.path)
    if not events:
        print(
            "No events waiting in the outbox."
            if damaged
            else "No events waiting: everything this PC kept has been sent to the database."
        )
    else:
        print(f"{len(events)} event{'s' if len(events) != 1 else ''} waiting:")
        rows = [e.as_dict() for e in events]
        print(render_table(rows, EVENT_COLUMNS))
        for event in events:
            if event.last_error:
                print(f"  event {event.id}: {event.last_error}")
        databases = sorted({e.database for e in events})
        print("For: " + ", ".join(databases))
    open_conflicts = [c for c in conflicts if not c.handled]
    if conflicts:
        label = "Conflicts" if args.all else "Open conflicts"
        print(f"\n{label} ({len(open_conflicts)} not handled):")
        print(render_table([c.as_dict() for c in conflicts], CONFLICT_COLUMNS))
        for record in conflicts:
            print(f"  conflict {record.id}: {record.message}")
        if open_conflicts:
            print("Mark one handled with: nexus-logger sync --resolve ID [--note TEXT]")
    else:
        print("No open conflicts.")
    return 0
