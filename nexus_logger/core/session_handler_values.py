"""The values of NexusLIMS's ``session_handler`` API, checked and in NexusLIMS's words: a
``SessionLog`` row as it would be stored, statuses and event types given as text or any enum,
``?`` placeholders for PostgreSQL, and Python's (so NexusLIMS's) words for an unreadable time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from nexus_logger.core import coercion, timestamps
from nexus_logger.core.db.engine import describe
from nexus_logger.core.db.schema import load_instruments, require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import InvalidInput, UnknownInstrument
from nexus_logger.core.validation import MAX_IDENTIFIER, clean_instrument, clean_text, clean_user

__all__ = [
    "as_text",
    "check_status",
    "isoformat_error",
    "qmark_to_format",
    "validated_values",
]


def qmark_to_format(query: str) -> str:
    """Rewrite ``?`` placeholders (outside quotes) to psycopg's ``%s`` and escape ``%``."""
    out: list[str] = []
    quote: str | None = None
    for ch in query:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def validated_values(log: Any, engine: Engine) -> dict[str, Any]:
    """The column values of ``log`` (a ``SessionLog``) as they would be stored, each checked;
    :class:`InvalidInput` or :class:`UnknownInstrument` says what is wrong."""
    identifier = clean_text(log.session_identifier, "session identifier", MAX_IDENTIFIER)
    instrument = clean_instrument(log.instrument)
    event = _event_type(log.event_type)
    status = check_status(log.record_status)
    user = clean_user(log.user) if log.user is not None else None
    info = require_usable(engine)
    if status not in info.allowed_statuses:
        raise InvalidInput(
            f"The database {describe(engine)} uses the {info.layout} layout, which does not "
            f"allow the status {status.value}."
        )
    instruments = load_instruments(engine)
    if instrument not in instruments:
        raise UnknownInstrument.named(instrument, describe(engine), instruments)
    tz_name = instruments[instrument].timezone
    try:
        stamp = timestamps.parse(log.timestamp, tz_name)
    except timestamps.TimestampError:
        raise InvalidInput(
            f"{isoformat_error(log.timestamp)}: give an ISO-8601 time such as "
            "2025-01-06T08:06:34-05:00."
        ) from None
    # Stored as NexusLIMS writes it: aware, in the instrument's zone (the instant is kept).
    stored = timestamps.to_db(stamp, tz_name)
    return {
        "session_identifier": identifier,
        "instrument": instrument,
        "timestamp": stored,
        "event_type": event.value,
        "record_status": status.value,
        "user": user,
    }


def check_status(value: object) -> RecordStatus:
    """Parse a status (text or any enum member); raise :class:`InvalidInput` listing valid ones."""
    try:
        return RecordStatus.parse(value)
    except ValueError as err:
        raise InvalidInput(str(err)) from None


def _event_type(value: object) -> EventType:
    try:
        return EventType.parse(value)
    except ValueError as err:
        raise InvalidInput(str(err)) from None


def as_text(value: object) -> Any:
    """An enum member as its value, so ``SessionLog``'s attributes stay plain text."""
    plain = coercion.enum_text(value)
    return str(plain) if isinstance(plain, str) else plain


def isoformat_error(text: object) -> str:
    """Python's (hence NexusLIMS's) wording for text ``datetime.fromisoformat`` refuses."""
    return f"Invalid isoformat string: {text!r}"
