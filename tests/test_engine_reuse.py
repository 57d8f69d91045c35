"""The SQLite engine keeps a connection between transactions (issue 19 req 5) without ever
reading a file that is no longer the database: replaced, moved away, changed by another
process, or left idle. Real files, real second connections."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from nexus_logger.core.db import engine as engines
from nexus_logger.core.db import sqlite_kept_connection
from nexus_logger.core.errors import NexusLoggerError


def _pids(engine) -> list[str]:
    with engines.read_connection(engine) as conn:
        return [r[0] for r in conn.execute(text("SELECT instrument_pid FROM instruments"))]


def _add(path: str, pid: str) -> None:
    with sqlite3.connect(path) as conn:  # another process's write, as far as SQLite can tell
        conn.execute(
            "INSERT INTO instruments (instrument_pid, api_url, calendar_url, location, "
            "display_name, property_tag, filestore_path, harvester, timezone) "
            "VALUES (?, 'u', 'c', 'l', ?, 't', 'f', 'nemo', 'UTC')",
            (pid, pid),
        )
    conn.close()


def _count_connects(engine) -> list[int]:
    opened = [0]

    @event.listens_for(engine, "connect")
    def _opened(*_args) -> None:
        opened[0] += 1

    return opened


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    from nexus_logger.core.db.schema import init_db

    path = str(tmp_path / "db.sqlite")
    init_db(path)
    return path


def test_one_connection_is_kept_and_sees_other_writers(empty_db):
    engine = engines.create_db_engine(empty_db, timeout=2)
    opened = _count_connects(engine)
    assert _pids(engine) == [] and _pids(engine) == []
    assert opened == [1]  # kept, not reopened
    _add(empty_db, "OTHER-PC-1")
    assert _pids(engine) == ["OTHER-PC-1"]  # SQLite drops its cache when the file changed
    assert opened == [1]
    engine.dispose()


def test_a_replaced_file_gets_a_new_connection(empty_db, tmp_path):
    engine = engines.create_db_engine(empty_db, timeout=2)
    assert _pids(engine) == []
    other = str(tmp_path / "restored.sqlite")
    shutil.copy(empty_db, other)
    _add(other, "RESTORED")
    os.replace(other, empty_db)  # IT restores a backup over the file
    assert _pids(engine) == ["RESTORED"]
    engine.dispose()


def test_a_file_moved_away_is_an_error_not_old_data(empty_db):
    engine = engines.create_db_engine(empty_db, timeout=2)
    _add(empty_db, "KEPT")
    assert _pids(engine) == ["KEPT"]
    os.replace(empty_db, empty_db + ".away")  # the share went away
    with pytest.raises(NexusLoggerError):
        _pids(engine)
    os.replace(empty_db + ".away", empty_db)
    assert _pids(engine) == ["KEPT"]
    engine.dispose()


def test_an_idle_connection_is_closed(empty_db, monkeypatch):
    monkeypatch.setattr(sqlite_kept_connection, "SQLITE_IDLE_SECONDS", 0.2)
    engine = engines.create_db_engine(empty_db, timeout=2)
    _pids(engine)
    assert engine.pool.checkedin() == 1
    deadline = time.monotonic() + 10
    while engine.pool.checkedin() and time.monotonic() < deadline:
        time.sleep(0.05)  # the closer thread runs on its own clock; nothing to wait on
    assert engine.pool.checkedin() == 0  # the file is no longer held open
    assert _pids(engine) == []  # and the next transaction simply opens it again
    engine.dispose()


def test_a_write_transaction_whose_connection_broke_opens_no_new_one_on_the_way_out(
    db: str,
) -> None:
    """After an I/O error or a lost server the connection is invalidated; ending the
    transaction must not open another one (on a dead share or network that is a wait of up
    to the connect timeout before the user hears anything)."""
    engine = engines.get_engine(db)
    engine.dispose()
    connects = _count_connects(engine)
    with pytest.raises(RuntimeError, match="share gone"):
        with engines.write_transaction(engine) as conn:
            conn.execute(text("SELECT 1"))
            conn.invalidate()  # what the engine does on a disconnect or a moved file
            raise RuntimeError("share gone")
    assert connects[0] == 1  # the one the transaction opened
