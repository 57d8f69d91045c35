"""Checks on text that goes into ``session_log``, done before anything is written."""

from __future__ import annotations

import unicodedata

from nexus_logger.core.errors import InvalidInput

#: ``session_log.user`` is ``VARCHAR(50)``; SQLite would store more, PostgreSQL would refuse.
MAX_USER = 50
MAX_INSTRUMENT = 100
MAX_IDENTIFIER = 36


#: Invisible characters that reorder or hide text (bidirectional overrides and isolates,
#: direction marks, zero-width space, byte-order mark). Zero-width (non-)joiners stay allowed:
#: they are part of correctly written Persian, Indic and other names.
_INVISIBLE = frozenset(
    "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)


def has_control_chars(text: str) -> bool:
    """True when ``text`` holds control characters, line separators or text-hiding marks."""
    return any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} or ch in _INVISIBLE for ch in text)


def clean_text(value: object, what: str, max_len: int, *, required: bool = True) -> str:
    """Return ``value`` stripped, or raise :class:`InvalidInput` naming ``what`` and the fix.

    Quotes, semicolons and non-ASCII letters are ordinary text and kept exactly.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"The {what} must be text, not {type(value).__name__}.")
    text = value.strip()
    if required and not text:
        article = "an" if what[:1].lower() in "aeio" else "a"  # "a user name"
        raise InvalidInput(f"The {what} is empty. Give {article} {what}.")
    if has_control_chars(text):
        raise InvalidInput(
            f"The {what} {text!r} contains control characters (such as a line break or tab). "
            "Type it again without them."
        )
    if len(text) > max_len:
        raise InvalidInput(
            f"The {what} is {len(text)} characters long; NexusLIMS allows at most {max_len}. "
            "Use a shorter one."
        )
    return text


def clean_user(value: object) -> str:
    """A ``session_log.user`` value: 1 to 50 characters, no control characters."""
    return clean_text(value, "user name", MAX_USER)


def clean_instrument(value: object) -> str:
    """An ``instrument_pid``: 1 to 100 characters, no control characters."""
    return clean_text(value, "instrument", MAX_INSTRUMENT)
