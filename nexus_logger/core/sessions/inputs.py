"""What the lifecycle accepts from its callers, checked before anything is written: the
session's user, note and identifier, and times as ``session_log`` stores them."""

from __future__ import annotations

import getpass
import unicodedata
from datetime import datetime

from nexus_logger.core import timestamps
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, localize
from nexus_logger.core.validation import MAX_IDENTIFIER, clean_text, clean_user

__all__ = [
    "CLOCK_SLACK",
    "MAX_NOTE",
    "clean_identifier",
    "clean_note",
    "default_user",
    "end_text_like_start",
    "ends_before_start",
    "stored_in_zone",
    "session_user",
    "stored_time",
]

#: Longest note accepted (characters).
MAX_NOTE = 2000
#: A start or end time may be this far in the future by default (``clock_skew_minutes``).
CLOCK_SLACK = DEFAULT_RULES.skew


def default_user() -> str:
    """The OS login of whoever runs the program: the default ``user`` of a session.

    This is NexusLIMS's ``user`` column (who was at the microscope), which the user may also
    give with ``--user``; it grants nothing. Who an *administrator* is comes from
    :mod:`nexus_logger.core.settings.identity` (the real account), never from this.
    """
    try:
        name = getpass.getuser()
    except Exception:  # OSError, KeyError or ImportError when nothing names the account
        name = ""
    if not name or not name.strip():
        raise InvalidInput(
            "Could not tell who is logged in on this PC. Give the user name (--user NAME)."
        )
    return name.strip()


def session_user(user: str | None) -> str:
    """The session's ``user`` as given, checked; ``None`` means the OS login."""
    return clean_user(default_user() if user is None else user)


def clean_note(value: object) -> str | None:
    """A session note: free text up to :data:`MAX_NOTE` characters; blank means no note.

    Line breaks and tabs are kept (a note may have several lines); other control characters
    are refused.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"The note must be text, not {type(value).__name__}.")
    text = value.replace("\r\n", "\n").strip()
    if not text:
        return None
    if any(ch not in "\n\t" and unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(
            "The note contains control characters other than line breaks and tabs. "
            "Type it again without them."
        )
    if len(text) > MAX_NOTE:
        raise InvalidInput(
            f"The note is {len(text)} characters long; at most {MAX_NOTE} are kept. Shorten it."
        )
    return text


def clean_identifier(value: object) -> str:
    """A session identifier as given: text of at most the column's length, without spaces."""
    text = clean_text(value, "session identifier", MAX_IDENTIFIER)
    if any(ch.isspace() for ch in text):
        raise InvalidInput(f"The session identifier {text!r} contains spaces; check it.")
    return text


def stored_time(at: datetime | None, tz: str, what: str = "time") -> str:
    """Stored text of ``at`` (default now); a naive ``at`` is read strictly in ``tz``."""
    return timestamps.to_db(localize(at, tz, what) if at is not None else timestamps.now_in(tz), tz)


def end_text_like_start(stamp: str, start_text: str, tz: str) -> str:
    """The END's stored text in the form of its START's: ``stamp`` (aware) as it is, or, for
    a START NexusLIMS 1.x wrote without a UTC offset, the same instant as the instrument's
    wall clock without one, in 1.x's form (``2020-02-05T10:30:00.000``).

    NexusLIMS 2.8 subtracts and compares a session's two times: a naive START with an aware
    END raises there, and the session went to ERROR instead of being built. A naive pair is
    read as every other 1.x session is (the Admin tab reports naive times, with the fix).
    """
    if not timestamps.is_naive(start_text):
        return stamp
    wall = stored_in_zone(stamp, tz).replace(tzinfo=None)
    return wall.isoformat(timespec="milliseconds")


def ends_before_start(ended: datetime, started: datetime, start_text: str) -> bool:
    """True when an END at ``ended`` would come before its START as NexusLIMS compares them.

    ``started`` is the START read on the instrument's clock (:func:`stored_in_zone` or
    ``timestamps.parse`` with the instrument's zone), ``start_text`` the START as stored. A
    START with its UTC offset is compared by real time. A START NexusLIMS 1.x wrote without
    one gets an END without one (:func:`end_text_like_start`), and NexusLIMS compares the two
    wall clocks: in the hour a clock repeats, an END at 01:40 EDT follows a START stored as
    01:30 (which reads as EST), and one at 01:10 EST comes before a START stored as 01:50.
    """
    if timestamps.is_naive(start_text):
        wall_end = ended.astimezone(started.tzinfo).replace(tzinfo=None)
        return wall_end < datetime.fromisoformat(start_text.strip())
    return timestamps.seconds_between(started, ended) < 0


def stored_in_zone(text: str, tz: str | None) -> datetime:
    """Stored text as an aware datetime on the instrument's clock (its ``ZoneInfo``, so that
    it shows as EST or EDT); naive 1.x text is read in that zone. Two such times compare and
    subtract by wall clock in Python: use :func:`timestamps.seconds_between` for either."""
    return timestamps.parse(text, tz).astimezone(timestamps.zone(tz))
