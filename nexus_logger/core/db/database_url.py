"""A database given as text: a URL or a file path, an SQLite ``file:`` URI that works for
Windows drive and UNC paths, a URL's mistakes said plainly, and its password hidden."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from nexus_logger.core.errors import ConfigError

__all__ = ["is_url", "masked", "parse_url", "sqlite_uri"]


def is_url(target: str) -> bool:
    """True for ``scheme://...`` text; a Windows path such as ``C:\\x`` is not a URL."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target))


def sqlite_uri(path: Path, mode: str) -> str:
    """An SQLite ``file:`` URI for ``path`` that also works for Windows drive and UNC paths."""
    posix = path.as_posix()
    quoted = urllib.parse.quote(posix, safe="/:")
    if posix.startswith("//"):  # \\server\share\... on Windows
        base = "file:" + "//" + quoted
    elif re.match(r"^[A-Za-z]:", posix):
        base = "file:///" + quoted
    else:
        base = "file:" + quoted
    return f"{base}?mode={mode}"


def parse_url(text: str) -> URL:
    """The SQLAlchemy URL in ``text``, or :class:`ConfigError` saying what is wrong with it.

    (SQLAlchemy raises ``ValueError``, not its own error, for a port that is not a number.)
    """
    netloc = re.split(r"[/?#]", text.split("://", 1)[-1], maxsplit=1)[0]
    if netloc.count("@") > 1:
        # SQLAlchemy would end the password at the first "@" and take the rest for the host.
        raise ConfigError(
            f"'{masked(text)}' is not a valid database URL: it has more than one '@' before "
            "the host. Write an '@' in the user name or password as %40."
        )
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as err:
        if isinstance(err, ValueError):  # "invalid literal for int() with base 10: 'x'"
            port = str(err).rpartition(": ")[2]
            detail = f"the port {port} is not a number"
        else:
            detail = "unreadable"
        raise _invalid(text, detail) from None
    if url.port is not None and not 1 <= url.port <= 65535:
        # libpq takes port 0 for its default (5432) and calls 99999 a bad connection, which
        # would be reported as a database that cannot be reached.
        raise _invalid(text, f"the port {url.port} is not between 1 and 65535")
    return url


def _invalid(text: str, detail: str) -> ConfigError:
    return ConfigError(
        f"'{masked(text)}' is not a valid database URL ({detail}). Use a file path or "
        "postgresql+psycopg://user:password@host[:port]/dbname."
    )


def masked(text: str) -> str:
    """``text`` with the password of a URL hidden (up to the last "@": it may contain "@")."""
    return re.sub(r"://([^:/@]*):.*@", r"://\1:***@", text)
