"""The two constrained columns of ``session_log``, as NexusLIMS 2.x defines them.

They are string enums so that a member compares equal to the text stored in the database and
can be passed wherever NexusLIMS code passes a plain string.

``parse`` also takes members of any other enum whose value is a valid name, such as NexusLIMS's
own ``nexusLIMS.db.enums.RecordStatus``: those are ``(str, Enum)`` classes whose ``str()`` is
``'RecordStatus.ERROR'`` rather than ``'ERROR'``, so only their ``value`` can be trusted.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from nexus_logger.core.coercion import enum_text


def _parse(cls: type[StrEnum], value: object, kind: str) -> StrEnum:
    """The member of ``cls`` named by ``value`` (text or any enum member), or ``ValueError``.

    The message starts as Python's own (``'X' is not a valid RecordStatus``), which is what
    NexusLIMS code sees from ``RecordStatus('X')``, and then lists the valid ``kind``.
    """
    if isinstance(value, cls):
        return value
    value = enum_text(value)
    try:
        return cls(str(value).strip().upper())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(
            f"{value!r} is not a valid {cls.__name__}; use one of the NexusLIMS {kind}: {allowed}."
        ) from None


class EventType(StrEnum):
    """Values allowed by the ``check_event_type`` constraint."""

    START = "START"
    END = "END"
    RECORD_GENERATION = "RECORD_GENERATION"

    @classmethod
    def parse(cls, value: object) -> Self:
        """Return the member for ``value`` or raise a ``ValueError`` that lists the valid ones."""
        return _parse(cls, value, "event types")  # type: ignore[return-value]


class RecordStatus(StrEnum):
    """Values allowed by the ``check_record_status`` constraint (NexusLIMS 2.8, eight values)."""

    WAITING_FOR_END = "WAITING_FOR_END"
    TO_BE_BUILT = "TO_BE_BUILT"
    COMPLETED = "COMPLETED"
    BUILT_NOT_EXPORTED = "BUILT_NOT_EXPORTED"
    ERROR = "ERROR"
    NO_FILES_FOUND = "NO_FILES_FOUND"
    NO_CONSENT = "NO_CONSENT"
    NO_RESERVATION = "NO_RESERVATION"

    @classmethod
    def parse(cls, value: object) -> Self:
        """Return the member for ``value`` or raise a ``ValueError`` that lists the valid ones."""
        return _parse(cls, value, "record statuses")  # type: ignore[return-value]


#: NexusLIMS 1.x allowed only these five statuses (its CHECK constraint rejects the others).
LEGACY_STATUSES = frozenset(
    {
        RecordStatus.COMPLETED,
        RecordStatus.WAITING_FOR_END,
        RecordStatus.TO_BE_BUILT,
        RecordStatus.ERROR,
        RecordStatus.NO_FILES_FOUND,
    }
)
