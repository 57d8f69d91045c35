"""``station set|show|unset``: which instrument a PC controls (table ``nexus_logger_station``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from nexus_logger.commands._common import (
    add_action,
    add_format_option,
    engine_from_args,
    render_json,
    render_table,
)
from nexus_logger.core.errors import NotFound


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "station",
        help="link PCs to instruments",
        description="Which instrument each PC controls, kept in the logger-owned table "
        "nexus_logger_station of the shared database (NexusLIMS's tables are not changed).",
    )
    actions = p.add_subparsers(dest="station_command", metavar="ACTION", required=True)

    s = _action(
        actions,
        common,
        "set",
        cmd_set,
        "link a PC (default: this one) to an instrument",
        "Link a PC (default: this one) to an instrument, replacing an earlier link.",
    )
    s.add_argument("pid", metavar="PID", help="instrument_pid of the instrument")
    s.add_argument("--hostname", metavar="NAME", help="the PC's host name (default: this PC)")
    s = _action(
        actions,
        common,
        "show",
        cmd_show,
        "list the links and what this PC resolves to",
        "List every PC-to-instrument link in the database, and which instrument "
        "this PC (or --hostname) resolves to from the station table or, on a 1.x database, "
        "the legacy computer_name column (the instrument setting is not applied here).",
    )
    s.add_argument("--hostname", metavar="NAME", help="resolve this host name (default: this PC)")
    add_format_option(s, ("table", "json"))
    s = _action(
        actions,
        common,
        "unset",
        cmd_unset,
        "remove the link of a PC (default: this one)",
        "Remove the link of a PC (default: this one) to its instrument; its "
        "sessions stay as they are.",
    )
    s.add_argument("--hostname", metavar="NAME", help="the PC's host name (default: this PC)")


def _action(
    actions: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help_text: str,
    description: str,
) -> argparse.ArgumentParser:
    return add_action(
        actions, name, func, parents=[common], help_text=help_text, description=description
    )


def cmd_set(args: argparse.Namespace) -> int:
    from nexus_logger.core.sessions.lifecycle import identify_instrument
    from nexus_logger.core.sessions.station import normalize_host, set_station, this_host

    engine = engine_from_args(args)
    host = args.hostname if args.hostname is not None else this_host()
    set_station(args.pid, hostname=host, engine=engine)
    inst = identify_instrument(hostname=host, engine=engine, use_config=False)
    print(
        f"The PC {normalize_host(host)} is now linked to {inst.instrument_pid} "
        f"({inst.display_name})."
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nexus_logger.core.sessions.lifecycle import identify_instrument
    from nexus_logger.core.sessions.station import list_stations, this_host

    engine = engine_from_args(args)
    host = args.hostname if args.hostname is not None else this_host()
    rows = [
        {
            "hostname": m.hostname,
            "instrument_pid": m.instrument_pid,
            "updated": m.updated,
            "updated_by": m.updated_by,
        }
        for m in list_stations(engine=engine)
    ]
    try:
        resolved: str | None = identify_instrument(
            hostname=host, engine=engine, use_config=False
        ).instrument_pid
        problem = None
    except NotFound as err:
        resolved, problem = None, str(err)
    if args.format == "json":
        print(
            render_json(
                {"hostname": host, "instrument_pid": resolved, "problem": problem, "links": rows}
            )
        )
        return 0
    print(
        render_table(rows, ("hostname", "instrument_pid", "updated", "updated_by"))
        if rows
        else "No PC is linked in the station table."
    )
    print()
    print(f"{host}: {resolved}" if resolved else problem)
    return 0


def cmd_unset(args: argparse.Namespace) -> int:
    from nexus_logger.core.sessions.station import normalize_host, remove_station, this_host

    engine = engine_from_args(args)
    host = args.hostname if args.hostname is not None else this_host()
    if remove_station(host, engine=engine):
        print(f"The link of {normalize_host(host)} was removed.")
        return 0
    raise NotFound(f"The PC {normalize_host(host)} has no link in the station table.")
