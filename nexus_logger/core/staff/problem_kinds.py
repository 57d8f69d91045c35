"""The kinds of session problems and the record of one problem found, shared by the checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ProblemKind(StrEnum):
    """The kinds of problems, in the order they are shown (most harmful first)."""

    START_WITHOUT_END = "start_without_end"
    USER_MISMATCH = "user_mismatch"
    INSTRUMENT_MISMATCH = "instrument_mismatch"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    DUPLICATE_END = "duplicate_end"
    DUPLICATE_START = "duplicate_start"
    END_WITHOUT_START = "end_without_start"
    END_BEFORE_START = "end_before_start"
    STATUS_MISMATCH = "status_mismatch"
    NAIVE_TIMESTAMP = "naive_timestamp"
    OVERLAP = "overlap"
    FUTURE_START = "future_start"
    LONG_OPEN_SESSION = "long_open_session"
    LONG_SESSION = "long_session"
    STUCK_STATUS = "stuck_status"

    @property
    def title(self) -> str:
        """A short heading for the kind."""
        return _TITLES[self]


_TITLES = {
    ProblemKind.START_WITHOUT_END: "START to be built without its END",
    ProblemKind.USER_MISMATCH: "START and END users differ",
    ProblemKind.INSTRUMENT_MISMATCH: "START and END instruments differ",
    ProblemKind.BAD_TIMESTAMP: "Unreadable timestamp",
    ProblemKind.UNKNOWN_INSTRUMENT: "Unknown instrument",
    ProblemKind.DUPLICATE_END: "Several ENDs",
    ProblemKind.DUPLICATE_START: "Several STARTs",
    ProblemKind.END_WITHOUT_START: "END without START",
    ProblemKind.END_BEFORE_START: "END before START",
    ProblemKind.STATUS_MISMATCH: "START and END statuses differ",
    ProblemKind.NAIVE_TIMESTAMP: "Timestamp without time zone",
    ProblemKind.OVERLAP: "Sessions overlap on one instrument",
    ProblemKind.FUTURE_START: "START in the future",
    ProblemKind.LONG_OPEN_SESSION: "Session open for a long time",
    ProblemKind.LONG_SESSION: "Session to be built lasted a long time",
    ProblemKind.STUCK_STATUS: "Build failed or found no files",
}

#: Position of each kind in the shown order.
KIND_ORDER = {kind: i for i, kind in enumerate(ProblemKind)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one session.

    ``blocks_build`` is True when NexusLIMS's next ``get_sessions_to_build()`` would raise
    (and so build nothing at all) because of it. ``fix`` names the admin action that repairs
    it (``force_end``, ``requeue``, ``fix_user``), if there is one.
    """

    kind: ProblemKind
    session_identifier: str
    instrument: str | None
    explanation: str
    action: str
    row_ids: tuple[int, ...]
    blocks_build: bool = False
    fix: str | None = None
    users: tuple[str | None, ...] = field(default=())
    #: Every user name the texts may contain (so that core/staff/privacy.py can hide them).
    mentions: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        """The kind's short heading."""
        return self.kind.title

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["title"] = self.title
        data["row_ids"] = list(self.row_ids)
        data["users"] = list(self.users)
        del data["mentions"]
        return data


def fmt_user(user: str | None) -> str:
    """A user name as the problem texts show it."""
    return "no user" if user is None else repr(user)
