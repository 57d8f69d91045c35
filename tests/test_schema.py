"""The schema nexus-logger creates is NexusLIMS 2.8's, object by object; existing layouts are detected."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from nexus_logger.core.db.schema import Layout, init_db, inspect_schema, load_instruments
from nexus_logger.core.errors import NexusLoggerError, SchemaError
from tests.conftest import FIXTURES, REFERENCE_SCHEMA


def _describe(path: str | Path) -> dict:
    """Everything that makes up a schema, as reflection sees it."""
    engine = create_engine(f"sqlite:///{path}")
    insp = inspect(engine)
    out = {}
    for table in insp.get_table_names():
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"])
                for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(table)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in insp.get_check_constraints(table)
            ),
            "uniques": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
        }
    engine.dispose()
    return out


def _reference_db(tmp_path: Path) -> Path:
    """A database made by executing the reference DDL NexusLIMS prints."""
    path = tmp_path / "reference-ddl.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(REFERENCE_SCHEMA.read_text())
    return path


def test_init_db_matches_reference_schema_object_by_object(tmp_path: Path) -> None:
    created = tmp_path / "created.sqlite"
    made, message = init_db(str(created))
    assert made and "v2_5_0b" in message
    ours = _describe(created)
    theirs = _describe(_reference_db(tmp_path))
    assert (
        set(ours)
        == set(theirs)
        == {
            "alembic_version",
            "upload_log",
            "session_log",
            "external_user_identifiers",
            "instruments",
        }
    )
    for table in theirs:
        assert ours[table] == theirs[table], table
    # and NexusLIMS's own database agrees with its printed DDL
    assert _describe(FIXTURES / "nexuslims-2.8-reference.sqlite") == theirs
    with sqlite3.connect(created) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("v2_5_0b",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_init_db_on_existing_database_changes_nothing(reference_db: str) -> None:
    before = hashlib.sha256(Path(reference_db).read_bytes()).hexdigest()
    made, message = init_db(reference_db)
    assert not made
    assert "nothing was changed" in message
    assert hashlib.sha256(Path(reference_db).read_bytes()).hexdigest() == before


def test_init_db_refuses_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SchemaError, match="not a NexusLIMS database"):
        init_db(str(path))
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["customers"]


@pytest.mark.parametrize(
    ("fixture", "layout", "computer_name"),
    [("reference_db", Layout.NEXUSLIMS_2, False), ("legacy_db", Layout.LEGACY_1, True)],
)
def test_layout_detection(
    request: pytest.FixtureRequest, fixture: str, layout: Layout, computer_name: bool
) -> None:
    path = request.getfixturevalue(fixture)
    info = inspect_schema(path)
    assert info.layout is layout
    assert info.has_computer_name is computer_name
    assert info.usable


def test_legacy_instruments_read_with_display_names(legacy_db: str) -> None:
    instruments = load_instruments(legacy_db)
    assert set(instruments) == {"FEI-Titan-TEM-635816", "FEI-Quanta200-ESEM-633137"}
    titan = instruments["FEI-Titan-TEM-635816"]
    assert titan.display_name == "FEI Titan TEM"
    assert titan.timezone == "America/New_York"


def test_opening_fixtures_does_not_alter_them(reference_db: str, legacy_db: str) -> None:
    from nexus_logger.core import get_all_session_logs, get_sessions_to_build

    for path in (reference_db, legacy_db):
        before = _describe(path)
        get_sessions_to_build(engine=path)
        get_all_session_logs(engine=path)
        assert _describe(path) == before


def test_init_db_on_postgres_creates_same_tables(pg_cluster) -> None:
    url = pg_cluster.create_database()
    made, _ = init_db(url)
    assert made
    info = inspect_schema(url, refresh=True)
    assert info.layout is Layout.NEXUSLIMS_2
    assert info.alembic_version == "v2_5_0b"
    engine = create_engine(url)
    insp = inspect(engine)
    assert {c["name"] for c in insp.get_columns("session_log")} == {
        "id_session_log",
        "session_identifier",
        "instrument",
        "timestamp",
        "event_type",
        "record_status",
        "user",
    }
    checks = {c["name"] for c in insp.get_check_constraints("session_log")}
    assert checks == {"check_event_type", "check_record_status"}
    engine.dispose()
    assert init_db(url)[0] is False


def test_empty_database_is_reported(tmp_path: Path) -> None:
    from nexus_logger.core import get_sessions_to_build

    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(NexusLoggerError, match="no NexusLIMS tables.*init-db"):
        get_sessions_to_build(engine=str(path))
