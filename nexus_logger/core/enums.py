"""The two constrained columns of ``session_log``, as NexusLIMS 2.x defines them.

They are string enums so that a member compares equal to the text stored in the database and
can be passed wherever NexusLIMS code passes a plain string.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """Values allowed by the ``check_event_type`` constraint."""

    START = "START"
    END = "END"
    RECORD_GENERATION = "RECORD_GENERATION"


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
    def parse(cls, value: str | RecordStatus) -> RecordStatus:
        """Return the member for ``value`` or raise a ``ValueError`` that lists the valid ones."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(
                f"{value!r} is not a NexusLIMS record status; use one of: {allowed}."
            ) from None


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
