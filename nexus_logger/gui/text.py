"""How times, durations and messages are written in the window (plain Python, no Qt)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from nexus_logger.core import timestamps
from nexus_logger.core.durations import in_words


def now_like(value: datetime) -> datetime:
    """The current time in the zone of ``value`` (an aware datetime)."""
    return datetime.now(UTC).astimezone(value.tzinfo)


def clock(seconds: float) -> str:
    """Elapsed time as a clock: ``0:04:09``, ``12:30:00``; negative counts as zero."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def duration(seconds: float) -> str:
    """A duration in words, as the command line writes it too (core/durations.py)."""
    return in_words(seconds)


def when(value: datetime, now: datetime | None = None) -> str:
    """A moment as people say it: ``14:03 today``, ``09:12 yesterday``, ``14:03 on Tue 25 Nov 2025``.

    The time is on the clock of ``value``'s zone (the instrument's); its abbreviation is added
    when that is not this PC's zone.
    """
    now = now.astimezone(value.tzinfo) if now is not None else now_like(value)
    day = (now.date() - value.date()).days
    time_text = value.strftime("%H:%M")
    if value.utcoffset() != value.astimezone().utcoffset():
        # The instrument's zone is not this PC's: say which clock the time is on.
        time_text += f" {value.tzname() or value.strftime('%z')}"
    if day == 0:
        return f"{time_text} today"
    if day == 1:
        return f"{time_text} yesterday"
    return f"{time_text} on {value.strftime('%a')} {value.day} {value.strftime('%b %Y')}"


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago ``value`` was: ``3 h 12 min ago``, or ``just now``."""
    now = now or now_like(value)
    seconds = timestamps.seconds_between(value, now)
    if seconds < 60:
        return "just now"
    return f"{duration(seconds)} ago"


def plural(count: int, word: str) -> str:
    """``1 event``, ``3 events``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z'\"(])")
#: Signs that a sentence is for staff: a command line, an option, a setting to edit.
_STAFF_ONLY = re.compile(r"nexus-logger |(?<!\w)--[a-z]|config file|\bPID\b")


def for_user(message: str) -> tuple[str, str]:
    """Split an error message into what a microscope user reads and what staff need.

    The first sentence says what is wrong; it is shown as it is unless it holds a command
    line or a setting, which a user at the instrument cannot act on. Everything else (the
    known instruments, the command that fixes it) is the staff's detail.
    """
    parts = _SENTENCE_END.split(message.strip(), maxsplit=1)
    first, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    if _STAFF_ONLY.search(first):
        return "This PC is not set up to log sessions right now.", message.strip()
    return first, rest
