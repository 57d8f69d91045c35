"""Which instrument is this PC: the station table, its commands, and the lookup order."""

from __future__ import annotations

import json
import socket

import pytest

from nexus_logger.cli import main
from nexus_logger.core.errors import InvalidInput, NotFound, UnknownInstrument
from nexus_logger.core.sessions.lifecycle import identify_instrument
from nexus_logger.core.sessions.station import (
    list_stations,
    lookup_station,
    remove_station,
    set_station,
    this_host,
)
from tests.helpers_lifecycle import dump_database, raw_execute, raw_query, table_names


def test_this_host_is_the_os_host_name() -> None:
    assert this_host() == socket.gethostname()


def test_set_and_lookup(db: str) -> None:
    assert lookup_station("PC-1", engine=db) is None
    assert "nexus_logger_station" not in table_names(db)  # reading created nothing
    set_station("TEST-TEM-001", hostname="PC-1", engine=db)
    set_station("TEST-SEM-002", hostname="pc-2.lab.example.org", engine=db)
    assert lookup_station("PC-1", engine=db) == "TEST-TEM-001"
    assert lookup_station("pc-1", engine=db) == "TEST-TEM-001"  # Windows names ignore case
    assert lookup_station("PC-1.lab.example.org", engine=db) == "TEST-TEM-001"  # short name
    assert lookup_station("PC-2.LAB.example.org", engine=db) == "TEST-SEM-002"
    assert lookup_station("pc-3", engine=db) is None
    # Mapped by its DNS name, found by the short name Windows reports, or by another domain.
    assert lookup_station("PC-2", engine=db) == "TEST-SEM-002"
    assert lookup_station("pc-2.other.example.org", engine=db) == "TEST-SEM-002"
    # Two DNS names of one short name for different instruments: which one is meant is unknown.
    set_station("TEST-TEM-001", hostname="pc-4.lab-a.org", engine=db)
    set_station("TEST-SEM-002", hostname="pc-4.lab-b.org", engine=db)
    assert lookup_station("PC-4", engine=db) is None
    assert lookup_station("pc-4.lab-b.org", engine=db) == "TEST-SEM-002"
    # Said as that, not as "not linked" (which sent IT to link a PC that has two links).
    with pytest.raises(UnknownInstrument, match="could be several linked PCs") as refused:
        identify_instrument(hostname="PC-4", engine=db, use_config=False)
    assert "pc-4.lab-a.org \u2192 TEST-TEM-001" in str(refused.value)
    assert "station set PID --hostname PC-4" in str(refused.value)
    remove_station("pc-4.lab-a.org", engine=db)
    remove_station("pc-4.lab-b.org", engine=db)
    # A short name with a LIKE wildcard matches only itself.
    set_station("TEST-FIB-003", hostname="pc_5.lab.org", engine=db)
    assert lookup_station("pcx5", engine=db) is None
    assert lookup_station("PC_5", engine=db) == "TEST-FIB-003"
    remove_station("pc_5.lab.org", engine=db)
    # Re-pointing a PC replaces its link.
    set_station("TEST-FIB-003", hostname="pc-1", engine=db)
    assert lookup_station("PC-1", engine=db) == "TEST-FIB-003"
    assert [(m.hostname, m.instrument_pid) for m in list_stations(engine=db)] == [
        ("pc-1", "TEST-FIB-003"),
        ("pc-2.lab.example.org", "TEST-SEM-002"),
    ]
    assert remove_station("PC-1", engine=db)
    assert not remove_station("PC-1", engine=db)
    assert lookup_station("PC-1", engine=db) is None


def test_default_host_is_this_pc(sqlite_db: str) -> None:
    set_station("TEST-SEM-002", engine=sqlite_db)
    assert lookup_station(engine=sqlite_db) == "TEST-SEM-002"
    assert identify_instrument(engine=sqlite_db).instrument_pid == "TEST-SEM-002"


def test_unknown_instrument_or_bad_host_is_refused(sqlite_db: str) -> None:
    set_station("TEST-TEM-001", hostname="pc-1", engine=sqlite_db)
    before = dump_database(sqlite_db)
    with pytest.raises(NotFound, match=r"'TEST-XXX'.*Known instruments"):
        set_station("TEST-XXX", hostname="pc-1", engine=sqlite_db)
    with pytest.raises(InvalidInput, match="host name"):
        set_station("TEST-TEM-001", hostname="pc\n1", engine=sqlite_db)
    with pytest.raises(InvalidInput, match="host name is empty"):
        set_station("TEST-TEM-001", hostname=" ", engine=sqlite_db)
    assert dump_database(sqlite_db) == before


def test_identify_order(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_station("TEST-SEM-002", hostname="pc-1", engine=sqlite_db)
    # station table
    assert identify_instrument(hostname="pc-1", engine=sqlite_db).instrument_pid == "TEST-SEM-002"
    # config (here the environment) beats the station table ...
    monkeypatch.setenv("NEXUS_LOGGER_INSTRUMENT", "TEST-FIB-003")
    assert identify_instrument(hostname="pc-1", engine=sqlite_db).instrument_pid == "TEST-FIB-003"
    assert (
        identify_instrument(hostname="pc-1", engine=sqlite_db, use_config=False).instrument_pid
        == "TEST-SEM-002"
    )
    # ... and an explicit PID beats both.
    got = identify_instrument(instrument="TEST-TEM-001", hostname="pc-1", engine=sqlite_db)
    assert got.instrument_pid == "TEST-TEM-001" and got.timezone == "America/New_York"
    with pytest.raises(InvalidInput, match="instrument is empty"):
        identify_instrument(instrument="", engine=sqlite_db)


def test_identify_failure_names_host_and_instruments(sqlite_db: str) -> None:
    with pytest.raises(NotFound) as info:
        identify_instrument(hostname="LAB-PC-9", engine=sqlite_db)
    message = str(info.value)
    assert "'LAB-PC-9'" in message
    assert "TEST-FIB-003, TEST-SEM-002, TEST-TEM-001" in message
    assert "nexus-logger station set PID" in message and "--instrument PID" in message


def test_identify_link_to_vanished_instrument(db: str) -> None:
    set_station("TEST-TEM-001", hostname="pc-1", engine=db)
    raw_execute(db, "UPDATE nexus_logger_station SET instrument_pid = 'GONE-1'")
    with pytest.raises(NotFound, match=r"linked to the instrument 'GONE-1', which is not"):
        identify_instrument(hostname="pc-1", engine=db)


def test_station_table_leaves_nexuslims_tables_alone(reference_db: str) -> None:
    def schema() -> list[tuple]:
        return raw_query(
            reference_db,
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name NOT LIKE 'nexus_logger_%' ORDER BY name",
        )

    before = schema()
    set_station("NX-TEST-INSTR-002", hostname="pc-7", engine=reference_db)
    assert schema() == before
    assert "nexus_logger_station" in table_names(reference_db)
    assert identify_instrument(hostname="PC-7", engine=reference_db).instrument_pid == (
        "NX-TEST-INSTR-002"
    )


def test_station_commands(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["station", "set", "TEST-TEM-001", "--hostname", "Scope-PC", "--db", sqlite_db]) == 0
    )
    assert "scope-pc is now linked to TEST-TEM-001 (Test TEM)" in capsys.readouterr().out
    assert main(["station", "set", "TEST-SEM-002", "--db", sqlite_db]) == 0  # this PC
    capsys.readouterr()

    assert main(["station", "show", "--db", sqlite_db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hostname"] == this_host() and data["instrument_pid"] == "TEST-SEM-002"
    assert {(r["hostname"], r["instrument_pid"]) for r in data["links"]} == {
        ("scope-pc", "TEST-TEM-001"),
        (this_host().casefold(), "TEST-SEM-002"),
    }

    assert main(["station", "show", "--hostname", "scope-pc", "--db", sqlite_db]) == 0
    out = capsys.readouterr().out
    assert "scope-pc: TEST-TEM-001" in out and "INSTRUMENT_PID" in out

    assert main(["station", "unset", "--hostname", "SCOPE-PC", "--db", sqlite_db]) == 0
    capsys.readouterr()
    assert main(["station", "unset", "--hostname", "SCOPE-PC", "--db", sqlite_db]) == 2
    assert "has no link" in capsys.readouterr().err

    assert main(["station", "show", "--hostname", "scope-pc", "--db", sqlite_db]) == 0
    assert "'scope-pc') is not linked" in capsys.readouterr().out

    assert main(["station", "set", "NOPE", "--db", sqlite_db]) == 6  # set-up: unknown instrument
    assert "Known instruments" in capsys.readouterr().err
