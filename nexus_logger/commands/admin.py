"""``admin``: the Admin tab in its own window, and the same admin actions without a window.

``nexus-logger admin`` opens the tab alone (for a staff PC that logs no sessions). The actions
(``force-end``, ``requeue``, ``fix-user``) print exactly which rows will change and ask before
doing anything (``--yes`` skips the question); ``audit`` lists what administrators did;
``create-tables`` and ``postgres-roles`` help set up a PostgreSQL database with separate roles.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nexus_logger.commands._common import (
    add_action,
    add_format_option,
    engine_from_args,
    parse_time,
    positive_int,
    render_json,
    render_table,
    settings_from_args,
)


def _quiet_common(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--db``/``--config`` again for the actions, without defaults.

    argparse lets a sub-parser's default overwrite what the parent parsed, so
    ``admin --db X requeue ID`` would lose X; with SUPPRESS the option is set only when given.
    """
    parent = argparse.ArgumentParser(add_help=False)
    for action in common._actions:
        if action.option_strings:
            parent.add_argument(
                *action.option_strings,
                dest=action.dest,
                metavar=action.metavar,
                help=action.help,
                default=argparse.SUPPRESS,
            )
    return parent


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "admin",
        parents=[common],
        help="open the Admin tab alone, or run an admin action",
        description="Without an action: open the Admin tab in its own window (sessions pending "
        "build, their events, problems, timeline, admin actions). With an action: run it "
        "headless. Who may act: on an SQLite file, the OS logins listed in 'administrators'; "
        "on PostgreSQL with the roles of docs/postgres-roles.md, the database account "
        "(its admin role), whatever that setting says.",
    )
    p.set_defaults(func=cmd_window)
    quiet = _quiet_common(common)
    actions = p.add_subparsers(dest="admin_command", metavar="ACTION")
    _add_changes(actions, quiet)

    a = add_action(
        actions,
        "audit",
        cmd_audit,
        parents=[quiet],
        help_text="list the admin actions recorded in the database",
        description="List the admin actions recorded in the table nexus_logger_audit, newest "
        "first: when, which login, which action on which session, how many rows changed. "
        "A trail whose hash chain shows it was edited by hand is listed with a warning on "
        "standard error (as 'check' reports it).",
    )
    a.add_argument("--session", metavar="SESSION_ID", help="only actions on this session")
    a.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="newest N (default 50)"
    )
    add_format_option(a, ("table", "json"))

    add_action(
        actions,
        "create-tables",
        cmd_create_tables,
        parents=[quiet],
        help_text="create the logger-owned tables now (before granting rights on them)",
        description="Create nexus-logger's own tables (prefix nexus_logger_) in the database "
        "now; they are otherwise made on first use. The script of 'postgres-roles' creates "
        "them itself; this is for granting rights on them by hand. NexusLIMS's tables are "
        "not touched.",
    )
    _add_postgres_roles(actions)


def _add_changes(actions: argparse._SubParsersAction, quiet: argparse.ArgumentParser) -> None:
    """The actions that change a session's rows: each names the session and asks first."""

    def change(name: str, func: Any, help_text: str, description: str) -> Any:
        a = add_action(
            actions, name, func, parents=[quiet], help_text=help_text, description=description
        )
        a.add_argument("session", metavar="SESSION_ID", help="session_identifier")
        return a

    def ask_first(a: argparse.ArgumentParser) -> None:
        a.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    a = change(
        "force-end",
        cmd_force_end,
        "end an open session at a given time",
        "Insert the END of an open session at the given time and queue it for "
        "building (START and END become TO_BE_BUILT), with an audit row.",
    )
    a.add_argument(
        "--at",
        required=True,
        metavar="TIME",
        help="end time, ISO-8601 (e.g. 2025-01-06T17:30); without offset: the instrument's zone",
    )
    ask_first(a)
    a = change(
        "requeue",
        cmd_requeue,
        "queue a session (ERROR, NO_FILES_FOUND, ...) to be built again",
        "Set START and END of a session back to TO_BE_BUILT, with an audit row.",
    )
    ask_first(a)
    a = change(
        "fix-user",
        cmd_fix_user,
        "give START and END of a session the same user",
        "NexusLIMS pairs START and END by user; set both to USER, with an audit row.",
    )
    a.add_argument("--user", required=True, metavar="USER", help="the right user name")
    ask_first(a)


def _add_postgres_roles(actions: argparse._SubParsersAction) -> None:
    a = add_action(
        actions,
        "postgres-roles",
        cmd_postgres_roles,
        help_text="print SQL that makes a PostgreSQL server enforce nexus-logger's rules",
        description="Print the script of docs/postgres-roles.md for the given names: roles for "
        "instrument PCs, administrators and the bridge, the logger tables, the role-to-"
        "instrument map, guard triggers and the append-only change trail. Review it, then run "
        "it as the owner of session_log (e.g. with psql); it can be run again.",
    )
    a.add_argument("--database", default="nexuslims", help="database name (default nexuslims)")
    a.add_argument(
        "--instrument-role",
        default="nexus_instrument",
        metavar="ROLE",
        help="role the instrument PCs log in as: may start and end sessions, never delete "
        "(default nexus_instrument)",
    )
    a.add_argument(
        "--admin-role",
        default="nexus_admin",
        metavar="ROLE",
        help="role of facility staff: may also run the admin actions (default nexus_admin)",
    )
    a.add_argument(
        "--bridge-role",
        default="nexus_bridge",
        metavar="ROLE",
        help="account of NexusLIMS/the bridge (RECORD_GENERATION rows, final statuses)",
    )
    a.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ROLE=INSTRUMENT_PID",
        help="let the instrument PC account ROLE log INSTRUMENT_PID (repeatable)",
    )
    a.add_argument("--schema", default="public", help="schema of the tables (default public)")


def cmd_window(args: argparse.Namespace) -> int:
    from nexus_logger.gui.admin import run_admin_window  # Qt is imported only here

    return run_admin_window(args)


def _administrators(args: argparse.Namespace) -> list[str]:
    return list(settings_from_args(args).administrators)


def _confirm(plan: Any, assume_yes: bool) -> bool:
    # Said as a plan: with --yes a refusal by the database may follow, and nothing is written.
    print("Planned change (nothing is written until it is applied):")
    print("\n".join(plan.lines()))
    if assume_yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        from nexus_logger.core.errors import InvalidInput

        raise InvalidInput(
            "Nothing was changed: confirmation needs a terminal. Add --yes to apply the "
            "changes listed above."
        )
    try:
        answer = input("Apply these changes? [y/N] ").strip().lower()
    except EOFError:  # Ctrl-D (Ctrl-Z, Enter on Windows): no answer is a no
        print()
        return False
    return answer in {"y", "yes"}


def _run(args: argparse.Namespace, make_plan: Any) -> int:
    from nexus_logger.core.errors import EXIT_PROBLEMS
    from nexus_logger.core.staff import admin_actions

    engine = engine_from_args(args)
    admins = _administrators(args)
    if engine.dialect.name != "postgresql":
        # A file: the setting is all there is. On PostgreSQL the server decides in apply().
        admin_actions.require_administrator(administrators=admins)
    plan = make_plan(engine)
    if not _confirm(plan, args.yes):
        print("Nothing was changed.")
        return EXIT_PROBLEMS
    entry = admin_actions.apply(plan, administrators=admins, engine=engine)
    print(f"Done; recorded as audit entry {entry.id}.")
    return 0


def cmd_force_end(args: argparse.Namespace) -> int:
    from nexus_logger.core.staff import admin_actions

    at = parse_time(args.at)  # naive: the instrument's local time
    return _run(args, lambda eng: admin_actions.plan_force_end(args.session, at, engine=eng))


def cmd_requeue(args: argparse.Namespace) -> int:
    from nexus_logger.core.staff import admin_actions

    return _run(args, lambda eng: admin_actions.plan_requeue(args.session, engine=eng))


def cmd_fix_user(args: argparse.Namespace) -> int:
    from nexus_logger.core.staff import admin_actions

    return _run(args, lambda eng: admin_actions.plan_fix_user(args.session, args.user, engine=eng))


def cmd_audit(args: argparse.Namespace) -> int:
    from nexus_logger.core.staff import admin_actions, privacy
    from nexus_logger.core.staff.problems import audit_trail_problems

    settings = settings_from_args(args)
    # The same rule as 'nexus-logger admin' and the Admin tab.
    admin_actions.require_admin_view(
        settings, "list the audit trail", "it names everyone's sessions"
    )
    engine = engine_from_args(args)
    entries = admin_actions.list_audit(
        session_identifier=args.session, limit=args.limit, engine=engine
    )
    is_admin = admin_actions.is_administrator(administrators=settings.administrators)
    if admin_actions.hides_people(settings, is_admin):
        entries = privacy.hide_people(entries)
    # A trail edited by hand must not be listed as if it were intact (check says the same).
    for problem in audit_trail_problems(engine=engine):
        print(
            f"Warning: the audit trail is not as nexus-logger wrote it: {problem}", file=sys.stderr
        )
    if args.format == "json":
        print(render_json([e.as_dict() for e in entries]))
        return 0
    if not entries:
        about = f" for session {args.session}" if args.session else ""
        print(f"No admin actions recorded{about}.")
        return 0
    rows = [
        {
            "id": e.id,
            "at": e.at.isoformat(timespec="seconds") if e.at else "(unreadable)",
            "login": e.login,
            "db_account": e.db_account or "",
            "action": e.action,
            "session": e.session_identifier,
            "rows": len(e.after),
        }
        for e in entries
    ]
    print(render_table(rows, list(rows[0])))
    return 0


def cmd_create_tables(args: argparse.Namespace) -> int:
    from nexus_logger.core.db.engine import describe
    from nexus_logger.core.staff.admin_actions import create_logger_tables

    engine = engine_from_args(args)
    names = create_logger_tables(engine)
    print(f"Logger tables present in {describe(engine)}: {', '.join(names)}.")
    return 0


def cmd_postgres_roles(args: argparse.Namespace) -> int:
    from nexus_logger.core.errors import InvalidInput
    from nexus_logger.core.staff.admin_actions import postgres_roles_sql

    pairs = []
    for item in args.map:
        role, sep, pid = item.partition("=")
        if not sep or not role.strip() or not pid.strip():
            raise InvalidInput(f"--map {item!r}: write it as ROLE=INSTRUMENT_PID.")
        pairs.append((role.strip(), pid.strip()))
    print(
        postgres_roles_sql(
            database=args.database,
            instrument_role=args.instrument_role,
            admin_role=args.admin_role,
            bridge_role=args.bridge_role,
            schema=args.schema,
            instrument_map=pairs,
        )
    )
    return 0
