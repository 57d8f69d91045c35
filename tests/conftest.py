"""Fixtures shared by the whole suite: isolated home folders, databases, a PostgreSQL server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_logger.core.db import engine as engines
from nexus_logger.core.db.instruments import add_instrument
from nexus_logger.core.db.schema import init_db
from tests.nexuslims_ref import ensure_nexuslims
from tests.pgcluster import PgCluster, find_pg_bin

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Databases made by the real NexusLIMS back-end and its printed 2.8 DDL, kept in the repository
#: so that a clone with nothing beside it passes (tests/fixtures/README.md says what each holds).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE_SCHEMA = FIXTURES / "nexuslims-2.8-schema.sql"

#: Instruments of the databases the tests create: three zones, one with a half-hour offset.
TEST_INSTRUMENTS = (
    ("TEST-TEM-001", "Test TEM", "America/New_York"),
    ("TEST-SEM-002", "Test SEM", "Europe/Berlin"),
    ("TEST-FIB-003", "Test FIB", "Asia/Kolkata"),
)

_ENV_TO_CLEAR = [
    "NX_DB_PATH",
    "NEXUS_LOGGER_DB",
    "NEXUS_LOGGER_CONFIG",
    "NEXUS_LOGGER_INSTRUMENT",
    "NEXUS_LOGGER_ADMINISTRATORS",
    "NEXUS_LOGGER_LOG_LEVEL",
    "NEXUS_LOGGER_DEMO",
    "NEXUS_LOGGER_DATA_ROOT",
    "NX_INSTRUMENT_DATA_PATH",
    "NX_FILE_STRATEGY",
    "NX_IGNORE_PATTERNS",
    "NX_FILE_DELAY_DAYS",
]


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own config, data and log folders and no inherited database setting."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(home))
    # This PC's machine-wide folder, shared by the logins a test simulates (never /etc/xdg).
    monkeypatch.setenv("NEXUS_LOGGER_MACHINE_DIR", str(tmp_path_factory.mktemp("machine")))
    for var in _ENV_TO_CLEAR:
        monkeypatch.delenv(var, raising=False)
    yield home
    engines.set_default_database(None)
    engines.dispose_engines()


def _populate(target: str) -> str:
    init_db(target)
    for pid, name, tz in TEST_INSTRUMENTS:
        add_instrument(pid, display_name=name, timezone=tz, location="Lab", engine=target)
    return target


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    """Path of a new NexusLIMS 2.8 SQLite database with :data:`TEST_INSTRUMENTS`."""
    return _populate(str(tmp_path / "nexuslims.sqlite"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The suite's own PostgreSQL server, started once and removed at the end."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb found): PostgreSQL tests skipped")
    cluster = PgCluster(bin_dir).init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A throw-away PostgreSQL server of this test only (own port and folder), for
    tests that stop and start it."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb found)")
    cluster = PgCluster(bin_dir).init()
    cluster.start()
    try:
        yield cluster
    finally:
        engines.dispose_engines()
        cluster.destroy()


@pytest.fixture
def pg_db(pg_cluster: PgCluster) -> str:
    """URL of a new PostgreSQL database with the NexusLIMS schema and test instruments."""
    return _populate(pg_cluster.create_database())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on an SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return _populate(str(tmp_path / "nexuslims.sqlite"))
    return _populate(request.getfixturevalue("pg_cluster").create_database())


def _copy_fixture(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copyfile(FIXTURES / name, target)
    target.chmod(0o644)
    return str(target)


@pytest.fixture
def reference_db(tmp_path: Path) -> str:
    """A writable copy of the database NexusLIMS 2.8.0 made itself."""
    return _copy_fixture("nexuslims-2.8-reference.sqlite", tmp_path)


@pytest.fixture
def legacy_db(tmp_path: Path) -> str:
    """A writable copy of the NexusLIMS 1.4 layout database."""
    return _copy_fixture("nexuslims-1.4-legacy.sqlite", tmp_path)


@pytest.fixture(scope="session")
def nexuslims_python() -> Path:
    """Python of a virtual environment with the real NexusLIMS 2.8.0 back-end."""
    python, reason = ensure_nexuslims()
    if python is None:
        pytest.skip(f"real NexusLIMS not available: {reason}")
    return python
