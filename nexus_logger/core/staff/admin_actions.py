"""Repairs facility staff make to ``session_log`` (force-end, re-queue, fix a user mismatch),
each previewed, confirmed and audited.

``plan_*`` (:mod:`~nexus_logger.core.staff.admin_plans`) previews the rows an action changes;
:func:`apply` checks who may, then carries the plan out with its audit row in one transaction
(:mod:`~nexus_logger.core.staff.admin_apply`, :mod:`~nexus_logger.core.staff.admin_audit`). Who may: on
PostgreSQL the database account (the server's rules, docs/postgres-roles.md); on an SQLite file
the ``administrators`` setting, checked against the real OS account, which only keeps honest
people from mistakes.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nexus_logger.core.errors import InvalidInput, NexusLoggerError
from nexus_logger.core.settings.identity import os_login

if TYPE_CHECKING:
    from nexus_logger.core.db.engine import EngineLike
    from nexus_logger.core.staff.admin_audit import AuditEntry
    from nexus_logger.core.staff.admin_plans import ActionPlan

# The plans, the audit trail and applying them need SQLAlchemy; they load on first use, so
# that asking who is an administrator (the window does, on its GUI thread, to show or hide the
# Admin tab) does not import the database stack there.
_LAZY = {
    "ACTIONS": "admin_plans",
    "FIX_USER": "admin_plans",
    "FORCE_END": "admin_plans",
    "REQUEUE": "admin_plans",
    "ActionPlan": "admin_plans",
    "RowChange": "admin_plans",
    "plan_fix_user": "admin_plans",
    "plan_force_end": "admin_plans",
    "plan_requeue": "admin_plans",
    "AuditEntry": "admin_audit",
    "append_audit_row": "admin_audit",
    "audit_metadata": "admin_audit",
    "audit_table": "admin_audit",
    "check_audit_chain": "admin_audit",
    "create_logger_tables": "admin_audit",
    "ensure_audit_table": "admin_audit",
    "list_audit": "admin_audit",
    "NotAdministrator": "admin_apply",
    "StalePreview": "admin_apply",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nexus_logger.core.staff.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "apply",
    "configured_administrators",
    "current_login",
    "fix_user",
    "force_end",
    "is_administrator",
    "postgres_roles_sql",
    "requeue",
    "require_administrator",
    *_LAZY,
]

# --------------------------------------------------------------------------------------------
# Who is an administrator (here, so that every check asks this module's current_login)


def current_login() -> str:
    """The real OS account of this process ('' when the OS names none); never ``LOGNAME``."""
    return os_login()


def _login_forms(login: str) -> set[str]:
    """``DOMAIN\\alice`` and ``alice@domain`` also match ``alice``; case never matters."""
    name = login.strip().casefold()
    forms = {name}
    if "\\" in name:
        forms.add(name.rsplit("\\", 1)[1])
    if "@" in name:
        forms.add(name.split("@", 1)[0])
    return {f for f in forms if f}


def configured_administrators() -> list[str]:
    """The ``administrators`` setting (empty when the configuration cannot be read)."""
    from nexus_logger.core.settings.config import load_settings

    try:
        return list(load_settings().administrators)
    except NexusLoggerError:
        return []


def is_administrator(login: str | None = None, administrators: Sequence[str] | None = None) -> bool:
    """True when ``login`` (default: this OS login) is listed in ``administrators``."""
    login = current_login() if login is None else login
    admins = configured_administrators() if administrators is None else administrators
    if not login:
        return False
    mine = _login_forms(login)
    return any(mine & _login_forms(a) for a in admins if a and a.strip())


def may_see_admin_view(settings: Any) -> bool:
    """Whether this login may see the admin view (the window's Admin tab, ``nexus-logger
    admin``): it lists everyone's sessions. The demo's made-up sessions are nobody's data;
    otherwise administrators, or everyone when ``admin_tab_for_everyone`` is set."""
    return bool(
        getattr(settings, "uses_demo", False)
        or getattr(settings, "admin_tab_for_everyone", False)
        or is_administrator(administrators=settings.administrators)
    )


def require_admin_view(settings: Any, doing: str, why: str) -> None:
    """Refuse ``doing`` (NotAdministrator, exit 4) to a login :func:`may_see_admin_view`
    does not allow; ``why`` says what it would show."""
    if may_see_admin_view(settings):
        return
    from nexus_logger.core.staff.admin_apply import NotAdministrator

    login = current_login()
    raise NotAdministrator(
        f"{repr(login) if login else 'This account'} may not {doing}: {why}. Ask for the "
        "login to be added to 'administrators' in the config file (or for "
        "'admin_tab_for_everyone' to be set)."
    )


def hides_people(settings: Any, is_admin: bool) -> bool:
    """Whether this viewer sees the admin view's names and notes hidden: not an administrator,
    and ``admin_tab_shows_people`` off. The demo's sessions are made up: nobody's to hide."""
    return (
        not is_admin
        and not bool(getattr(settings, "admin_tab_shows_people", False))
        and not bool(getattr(settings, "uses_demo", False))
    )


def require_administrator(
    login: str | None = None, administrators: Sequence[str] | None = None
) -> str:
    """Return the login, or raise :class:`NotAdministrator` saying how to become one."""
    login = current_login() if login is None else login
    admins = configured_administrators() if administrators is None else administrators
    if not is_administrator(login, admins):
        from nexus_logger.core.staff.admin_apply import NotAdministrator

        who = repr(login) if login else "This account"
        raise NotAdministrator(
            f"{who} is not an administrator of nexus-logger, so admin actions are refused. "
            "Ask for the login to be added to 'administrators' in the config file."
        )
    return login


# --------------------------------------------------------------------------------------------
# Applying a plan


def apply(
    plan: ActionPlan,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    hostname: str | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Carry out a previewed action in one transaction, with its audit row.

    On PostgreSQL the database account decides (the server refuses the instrument role); on
    SQLite :class:`NotAdministrator` unless ``login`` (default: the real OS account) is in
    ``administrators``. Refused (:class:`Conflict`) when a row the plan changes is no longer as
    previewed. The audit row always records the real OS account, whatever ``login`` says.
    """
    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.db.schema import require_usable
    from nexus_logger.core.staff.admin_apply import perform
    from nexus_logger.core.staff.admin_plans import ACTIONS

    if plan.action not in ACTIONS:
        raise InvalidInput(f"{plan.action!r} is not an admin action; use one of {ACTIONS}.")
    host = hostname if hostname is not None else socket.gethostname()
    eng = get_engine(engine)
    require_usable(eng)
    if eng.dialect.name != "postgresql":
        require_administrator(login, administrators)
    who = current_login() or "unknown"
    return perform(plan, who=who, host=host, eng=eng)


def force_end(
    session_identifier: str,
    at: datetime,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a force-end without a preview step (CLI ``--yes``, scripts)."""
    from nexus_logger.core.staff.admin_plans import plan_force_end

    return apply(
        plan_force_end(session_identifier, at, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


def requeue(
    session_identifier: str,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a re-queue without a preview step."""
    from nexus_logger.core.staff.admin_plans import plan_requeue

    return apply(
        plan_requeue(session_identifier, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


def fix_user(
    session_identifier: str,
    user: str,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a user fix without a preview step."""
    from nexus_logger.core.staff.admin_plans import plan_fix_user

    return apply(
        plan_fix_user(session_identifier, user, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


def postgres_roles_sql(**names: Any) -> str:
    """The server-side rules script (see :mod:`nexus_logger.core.staff.postgres_roles`)."""
    from nexus_logger.core.staff.postgres_roles import postgres_roles_sql as build

    return build(**names)
