"""SQLite engine rules for a file on a network share, and where the database comes from."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_logger.core.db import engine as engines
from nexus_logger.core.errors import ConfigError, DatabaseUnavailable, NexusLoggerError


def test_sqlite_connection_settings(sqlite_db: str) -> None:
    eng = engines.get_engine(sqlite_db)
    with engines.read_connection(eng) as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"


def test_wal_database_is_switched_back_to_rollback_journal(sqlite_db: str) -> None:
    with sqlite3.connect(sqlite_db) as conn:
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    with engines.read_connection(engines.get_engine(sqlite_db)) as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    assert not Path(sqlite_db + "-wal").exists()


def test_write_transaction_takes_the_write_lock_up_front(sqlite_db: str) -> None:
    """BEGIN IMMEDIATE: before our first write, another writer is already locked out."""
    eng = engines.get_engine(sqlite_db)
    with engines.write_transaction(eng) as conn:
        conn.execute(text("SELECT COUNT(*) FROM session_log")).scalar()  # a read only
        other = sqlite3.connect(sqlite_db, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    other = sqlite3.connect(sqlite_db, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # free again after commit
    other.rollback()
    other.close()


def test_read_transaction_does_not_block_writers(sqlite_db: str) -> None:
    eng = engines.get_engine(sqlite_db)
    with engines.read_connection(eng) as conn:
        conn.execute(text("SELECT COUNT(*) FROM instruments")).scalar()
        other = sqlite3.connect(sqlite_db, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
        other.close()


def test_locked_database_waits_then_reports(sqlite_db: str) -> None:
    eng = engines.get_engine(sqlite_db, timeout=0.3)
    holder = sqlite3.connect(sqlite_db, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseUnavailable, match="stayed locked"):
            with engines.write_transaction(eng) as conn:
                conn.execute(text("SELECT 1"))
    finally:
        holder.rollback()
        holder.close()


def test_lock_released_within_timeout_is_waited_for(sqlite_db: str) -> None:
    """A lock held for 0.5 s is waited out (busy timeout), not reported as a failure."""
    eng = engines.get_engine(sqlite_db, timeout=10)
    holder = sqlite3.connect(sqlite_db, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(0.5, holder.rollback)
    started = time.monotonic()
    timer.start()
    try:
        with engines.write_transaction(eng) as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM instruments")).scalar() == 3
        waited = time.monotonic() - started
    finally:
        timer.join()
        holder.close()
    assert waited >= 0.4


def test_missing_file_is_never_created(tmp_path: Path) -> None:
    target = tmp_path / "absent.sqlite"
    with pytest.raises(NexusLoggerError, match="does not exist"):
        engines.get_engine(str(target))
    assert not target.exists()


def test_database_precedence_flag_env_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    from nexus_logger.core.settings.config import load_settings

    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('database = "from-file.sqlite"\n')
    assert load_settings().database_target == "from-file.sqlite"
    monkeypatch.setenv("NX_DB_PATH", "from-nx.sqlite")
    assert load_settings().database_target == "from-nx.sqlite"
    monkeypatch.setenv("NEXUS_LOGGER_DB", "from-ours.sqlite")
    assert load_settings().database_target == "from-ours.sqlite"
    assert (
        load_settings(overrides={"database": "from-flag.sqlite"}).database_target
        == "from-flag.sqlite"
    )
    engines.set_default_database("explicit.sqlite")
    assert engines.default_database() == "explicit.sqlite"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/srv/share/nexus lims.sqlite", "file:/srv/share/nexus%20lims.sqlite?mode=rw"),
        ("C:/Users/x/db#1.sqlite", "file:///C:/Users/x/db%231.sqlite?mode=rw"),
        (
            "//fileserver/share/nexuslims.sqlite",
            "file:////fileserver/share/nexuslims.sqlite?mode=rw",
        ),
    ],
)
def test_sqlite_uri_for_posix_drive_and_unc_paths(path: str, uri: str) -> None:
    from pathlib import PurePosixPath

    assert engines.sqlite_uri(PurePosixPath(path), "rw") == uri  # type: ignore[arg-type]


def test_password_never_shown() -> None:
    shown = engines.describe("postgresql+psycopg://nexus:s3cret@db.example.org/nexuslims")
    assert "s3cret" not in shown and "nexus" in shown


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "postgresql+psycopg://nexus:s3cret@db.example.org:54x2/nexuslims",
            "port .54x2. is not a number",
        ),
        ("postgresql+psycopg://nexus:s3c@ret@db.example.org/nexuslims", "as %40"),
        # libpq would take port 0 for 5432, and call 99999 unreachable (exit 5, not 6)
        ("postgresql+psycopg://nexus:s3cret@db.example.org:0/nexuslims", "port 0 is not between"),
        ("postgresql+psycopg://nexus:s3cret@db.example.org:99999/nexuslims", "port 99999 is not"),
    ],
)
def test_a_malformed_url_is_a_clear_config_error_that_hides_the_password(
    url: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        engines.get_engine(url)
    for shown in (str(caught.value), engines.describe(url)):
        assert "s3c" not in shown and "ret@" not in shown
        assert "db.example.org" in shown


def _refused(*_args: object, **_kwargs: object) -> object:
    raise PermissionError(13, "Access is denied")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("folder refuses new files", "ReadOnlyFolder"),
        ("file itself unreadable", None),  # a share or a login: waiting may help
        ("file gone", None),  # the share dropped
        ("another error", None),
        ("new file, folder refuses", "DatabaseReadOnly"),
    ],
)
def test_unable_to_open_is_read_only_only_when_the_folder_refuses(
    case: str, expected: str | None, sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the engine makes of SQLite's "unable to open database file" after a write failed
    (the folders refuse here by a patched file creation: root ignores permission bits)."""
    error = sqlite3.OperationalError("unable to open database file")
    target = sqlite_db
    if case == "new file, folder refuses":
        target = str(tmp_path / "new.sqlite")
    engine = engines.get_engine(target, create=case == "new file, folder refuses")
    if case in ("folder refuses new files", "new file, folder refuses"):
        monkeypatch.setattr(engines.tempfile, "TemporaryFile", _refused)
    elif case == "file itself unreadable":
        monkeypatch.setattr(engines.tempfile, "TemporaryFile", _refused)
        monkeypatch.setattr(Path, "open", _refused)
    elif case == "file gone":
        monkeypatch.setattr(engines.tempfile, "TemporaryFile", _refused)
        Path(sqlite_db).rename(tmp_path / "away.sqlite")
    else:
        error = sqlite3.OperationalError("disk I/O error")
    said = engines._folder_refusal(engine, error)
    assert (type(said).__name__ if said else None) == expected
    if expected == "ReadOnlyFolder":
        assert "can be read but not written: its folder" in str(said)
        assert "Ask IT for write (Modify) permission on the folder" in str(said)
    if expected == "DatabaseReadOnly":
        assert "does not let this account create files" in str(said) and "new.sqlite" in str(said)


@pytest.mark.postgres
def test_postgres_connections_notice_a_cut_network(pg_db: str) -> None:
    """Without TCP keepalives and a user timeout, a query on a pooled connection over a cut
    network waited for the operating system's limit (minutes to hours), holding the window's
    database worker. The connection asks for both."""
    with engines.get_engine(pg_db).connect() as conn:
        params = conn.connection.dbapi_connection.info.get_parameters()
    assert params["keepalives"] == "1" and int(params["keepalives_idle"]) <= 10
    assert int(params["tcp_user_timeout"]) >= 10_000
    assert params["application_name"] == "nexus-logger"
