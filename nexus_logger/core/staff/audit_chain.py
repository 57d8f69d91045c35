"""The hash chain over ``nexus_logger_audit`` that makes editing the trail in a file visible.

Each audit row carries ``prev_hash`` (the ``row_hash`` of the row before it) and ``row_hash``
(SHA-256 over ``prev_hash`` and the row's own stored content). Changing a row,
deleting one in the middle or adding one by hand without the chain breaks it, and
:func:`verify` says where.

What a chain in a file cannot promise, and the docs say plainly: there is no secret, so
someone who can write the file can rewrite the whole chain consistently, or delete the newest
rows and leave a valid, shorter chain. Against that, each PC keeps a small *anchor* in its own
data folder (how many chained rows it last saw and the last row's id and hash, per database);
a chain that no longer holds the anchored row, or holds fewer rows, is reported as shortened or
rewritten. That catches a trail cut back after this PC last looked, not one that was rewritten
before this PC ever saw it. On PostgreSQL the server-side trail (docs/postgres-roles.md) is
what cannot be rewritten; the chain there is a second, cheap check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_logger.core.settings import paths

__all__ = [
    "ChainReport",
    "HASHED_FIELDS",
    "anchor_file",
    "load_anchor",
    "row_hash",
    "save_anchor",
    "verify_rows",
]

_logger = logging.getLogger(__name__)

#: The stored columns a row's hash covers (everything but ``row_hash`` itself).
HASHED_FIELDS = (
    "at",
    "login",
    "db_account",
    "hostname",
    "action",
    "session_identifier",
    "summary",
    "before",
    "after",
    "prev_hash",
)


def row_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a row's hashed fields, as stored (``prev_hash`` included)."""
    content = [[name, row.get(name)] for name in HASHED_FIELDS]
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: ``problems`` is empty when it is intact."""

    chained_rows: int
    last_id: int | None
    last_hash: str | None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_rows(rows: Sequence[Mapping[str, Any]], anchor: Mapping[str, Any] | None) -> ChainReport:
    """Check ``rows`` (ordered by id) against their hashes and against this PC's ``anchor``.

    Rows before the first chained row (written by a nexus-logger without the chain) are
    accepted as they are; a row without a hash after a chained one was not written by
    nexus-logger.
    """
    problems: list[str] = []
    prev: str | None = None
    chained = 0
    by_id: dict[int, str | None] = {}
    for row in rows:
        rid = int(row["id"])
        stored = row.get("row_hash")
        by_id[rid] = stored
        if not stored:
            if chained:
                problems.append(
                    f"Audit row {rid} has no hash although earlier rows do: it was added or "
                    "edited by hand, not by nexus-logger."
                )
            continue
        if (row.get("prev_hash") or None) != prev:
            problems.append(
                f"Audit row {rid} does not follow the row before it: a row was deleted or "
                "changed before it."
            )
        if row_hash(row) != stored:
            problems.append(f"Audit row {rid} was changed after it was written.")
        prev = stored
        chained += 1
    last_id = next((int(r["id"]) for r in reversed(rows) if r.get("row_hash")), None)
    if anchor:
        a_id, a_hash, a_count = anchor.get("last_id"), anchor.get("last_hash"), anchor.get("count")
        if a_id is not None and by_id.get(int(a_id)) != a_hash:
            problems.append(
                f"The audit trail no longer holds row {a_id} as this PC last saw it: it was "
                "shortened or rewritten since."
            )
        elif isinstance(a_count, int) and chained < a_count:
            problems.append(
                f"The audit trail has {chained} chained rows but this PC last saw {a_count}: "
                "rows were deleted since."
            )
    return ChainReport(chained, last_id, prev, tuple(problems))


def anchor_file() -> Path:
    """This PC's anchors: ``{database key: {"count", "last_id", "last_hash"}}`` (JSON)."""
    return paths.data_dir() / "audit-anchor.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(anchor_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _logger.warning("The audit anchor file cannot be read (%s); starting a new one", err)
        return {}
    return data if isinstance(data, dict) else {}


def load_anchor(database_key: str) -> dict[str, Any] | None:
    """What this PC last saw of the chain of ``database_key`` (None: never looked)."""
    value = _read().get(database_key)
    return value if isinstance(value, dict) else None


def save_anchor(database_key: str, report: ChainReport) -> None:
    """Remember an intact chain's length and end, only ever moving forward."""
    if not report.ok or report.last_id is None:
        return
    data = _read()
    old = data.get(database_key)
    if isinstance(old, dict) and int(old.get("count") or 0) > report.chained_rows:
        return
    data[database_key] = {
        "count": report.chained_rows,
        "last_id": report.last_id,
        "last_hash": report.last_hash,
    }
    path = anchor_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        _logger.warning("Could not save the audit anchor to %s: %s", path, err)
