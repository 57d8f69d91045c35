"""The stable name of a database that outbox events are filed under (never with a password)."""

from __future__ import annotations

import os

from sqlalchemy import Engine

from nexus_logger.core.db.engine import EngineLike, default_database, engine_info, is_url, parse_url
from nexus_logger.core.errors import ConfigError


def database_key(target: EngineLike) -> str:
    """A stable name for a database, without a password, that outbox events are filed under.

    The same file or server gives the same key however it was spelled, so that an event is
    sent to the database it was meant for even if another one is configured meanwhile.
    """
    if isinstance(target, Engine):
        if target.url.get_backend_name() == "sqlite":
            path = engine_info(target).get("nexus_path") or target.url.database or ""
            return _path_key(path)
        return _url_key(target.url.render_as_string(hide_password=False))
    text = os.fspath(target) if target is not None else default_database()
    text = text.strip()
    if is_url(text):
        return _url_key(text)
    return _path_key(text)


def _path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(os.path.expanduser(path)))


def _url_key(text: str) -> str:
    try:
        url = parse_url(text)
    except ConfigError:
        return text
    if url.get_backend_name() == "sqlite":
        return _path_key(url.database or "")
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=True)
