"""What a viewer who may not see people is shown: the same data with names and notes hidden.

A facility may show the Admin tab to everyone (``admin_tab_for_everyone``) while keeping who
used which instrument when to its staff (``admin_tab_shows_people = false``). Every object the
tab loads passes through :func:`hide_people` before it reaches a page, so that no page, pane,
tooltip, search or export can show a name the viewer may not see: one place to get right
instead of one check per widget. Searching is the other way a name leaks (typing "alice" and
seeing which rows match), so :class:`~nexus_logger.core.staff.summaries.SessionQuery` has
``people=False`` to search only identifiers and instruments.

This is about what the program shows, not what an account may read: whoever can run SQL on
the database can read ``session_log`` (docs/postgres-roles.md says so).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, TypeVar

from nexus_logger.core.staff.admin_actions import AuditEntry
from nexus_logger.core.staff.fleet import PcStatus
from nexus_logger.core.staff.problems import Problem
from nexus_logger.core.staff.summaries import SessionEvent, SessionSummary

HIDDEN = "(hidden)"

T = TypeVar("T")


def _hidden(value: str | None) -> str | None:
    return HIDDEN if value else value


def _scrub(text: str, names: set[str], labels: dict[str, str] | None = None) -> str:
    """``text`` with every name in ``names`` replaced (by its label in ``labels``, else
    :data:`HIDDEN`), as whole words, in one pass: longest first (so 'ann' in 'anna' cannot
    leave 'a' behind), and never inside a label already written (a login named 'user')."""
    if not names:
        return text
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    found = (labels or {}).get
    return re.sub(rf"(?<!\w)(?:{alternatives})(?!\w)", lambda m: found(m[0], HIDDEN), text)


def _labels(names: list[str]) -> dict[str, str]:
    """Two or more people in one text get told apart ("(hidden user 1)", "(hidden user 2)"):
    "START for '(hidden)' but END for '(hidden)'" read as if the users were the same."""
    distinct = list(dict.fromkeys(names))
    if len(distinct) < 2:
        return {}
    return {name: f"(hidden user {i})" for i, name in enumerate(distinct, 1)}


def _scrub_rows(rows: list[dict[str, Any]], names: set[str]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        clean = dict(row)
        for key in ("user", "note", "login", "db_account"):
            if clean.get(key):
                clean[key] = HIDDEN
        out.append(clean)
    return out


def _names_in_rows(rows: list[dict[str, Any]]) -> set[str]:
    return {str(r[k]) for r in rows for k in ("user", "login") if r.get(k)}


def hide_one(item: T) -> T:
    """``item`` (a session, one of its rows, a problem, an audit entry or a PC) without names."""
    if isinstance(item, SessionSummary):
        return replace(  # type: ignore[return-value]
            item, user=_hidden(item.user), end_user=_hidden(item.end_user), note=_hidden(item.note)
        )
    if isinstance(item, SessionEvent):
        return replace(item, user=_hidden(item.user))  # type: ignore[return-value]
    if isinstance(item, Problem):
        ordered = [u for u in (*item.users, *item.mentions) if u]
        names, labels = set(ordered), _labels(ordered)
        return replace(  # type: ignore[return-value]
            item,
            explanation=_scrub(item.explanation, names, labels),
            action=_scrub(item.action, names, labels),
            users=tuple(labels.get(u, HIDDEN) if u else u for u in item.users),
            mentions=(),
        )
    if isinstance(item, AuditEntry):
        names = {item.login, *(item.db_account or "").split()} | _names_in_rows(
            [*item.before, *item.after]
        )
        names.discard("")
        return replace(  # type: ignore[return-value]
            item,
            login=HIDDEN,
            db_account=_hidden(item.db_account),
            summary=_scrub(item.summary, names),
            before=_scrub_rows(item.before, names),
            after=_scrub_rows(item.after, names),
        )
    if isinstance(item, PcStatus):
        return replace(item, os_login=_hidden(item.os_login))  # type: ignore[return-value]
    return item


def hide_people(result: Any) -> Any:
    """A loaded result (one object, a list of them, or a pair whose second part is the list,
    as the timeline returns) with every name and note hidden."""
    if isinstance(result, list):
        return [hide_one(x) for x in result]
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
        return (result[0], hide_people(result[1]))
    return hide_one(result)
