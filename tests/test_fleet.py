"""The fleet (issue 21 req 4): what each instrument PC reports, how the fleet is listed and
flagged, on an SQLite file and on PostgreSQL (clock offset, account, the server's rules), and
``nexus-logger fleet``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest

from nexus_logger import __version__
from nexus_logger.cli import main
from nexus_logger.core.db.engine import get_engine, is_sqlite
from nexus_logger.core.db.logger_tables import ensure_tables, heartbeat, station
from nexus_logger.core.sessions.station import set_station
from nexus_logger.core.staff import fleet
from tests.helpers_admin import SEM, TEM, ny, raw_execute, raw_query
from tests.test_server_rules import _as, server  # noqa: F401 - the fixture, reused

NOW = datetime.now(UTC)


def _report(db: str, host: str, **kw) -> None:
    values = {
        "instrument": TEM,
        "waiting_events": 0,
        "session_identifier": None,
        "os_login": "tech",
    } | kw
    assert fleet.report_pc(hostname=host, engine=db, **values)


def test_report_is_one_row_per_pc_and_is_updated(db):
    _report(db, "Lab-PC-1")
    _report(db, "lab-pc-1", waiting_events=2)  # the same PC, however the OS spells its name
    rows = raw_query(
        db, "SELECT hostname, instrument, version, waiting_events FROM nexus_logger_pc"
    )
    assert rows == [("lab-pc-1", TEM, __version__, 2)]
    (pc,) = fleet.list_fleet(engine=db)
    assert pc.hostname == "lab-pc-1" and pc.waiting_events == 2
    assert pc.flags == ("2 event(s) waiting on that PC",)
    if is_sqlite(get_engine(db)):
        assert (pc.clock_offset_seconds, pc.db_account) == (None, None)  # a file has no clock
    else:
        assert abs(pc.clock_offset_seconds) < 5 and pc.db_account == "postgres"


def test_the_fleet_flags_what_needs_a_look(db):
    _report(db, "healthy", version="0.3.0", session_identifier=None)
    _report(db, "behind", version="0.2.9")
    _report(db, "waiting", version="0.3.0", waiting_events=1, instrument=SEM)
    # An older nexus-logger: a station row and heartbeats only, never a report.
    ensure_tables(get_engine(db), [station, heartbeat])
    raw_execute(db, "INSERT INTO nexus_logger_station VALUES ('old-pc', ?, ?, 'it')", (SEM, ny(1)))
    old_beat = (NOW - timedelta(hours=30)).isoformat()
    raw_execute(
        db, "INSERT INTO nexus_logger_heartbeat VALUES ('s-old', ?, ?, 'OLD-PC')", (SEM, old_beat)
    )
    by_host = {pc.hostname: pc for pc in fleet.list_fleet(silent_hours=24, engine=db)}
    assert set(by_host) == {"healthy", "behind", "waiting", "old-pc"}
    assert by_host["healthy"].flags == ()
    assert by_host["behind"].flags == ("runs 0.2.9, older than the newest in the fleet",)
    assert by_host["waiting"].flags == ("1 event(s) waiting on that PC",)
    old = by_host["old-pc"]
    assert old.version is None and old.instrument == SEM
    assert old.flags == (
        "reports nothing: an older nexus-logger, or never launched since",
        "silent for more than 24 h",
    )
    later = NOW + timedelta(hours=25)  # a day later nobody has reported again
    assert all(
        "silent for more than 24 h" in pc.flags
        for pc in fleet.list_fleet(silent_hours=24, now=later, engine=db)
    )


def test_a_clock_off_by_more_than_the_limit_is_flagged(db):
    _report(db, "pc")
    raw_execute(db, "UPDATE nexus_logger_pc SET clock_offset_seconds = 412.0")
    (pc,) = fleet.list_fleet(clock_limit_seconds=300, engine=db)
    assert pc.flags == ("clock off by +412 s",)


def _pc_clock_off(monkeypatch: pytest.MonkeyPatch, off: timedelta) -> None:
    """This process writes its reports as a PC whose clock is ``off``."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) + off

    real = time.time
    monkeypatch.setattr(fleet, "datetime", Skewed)
    monkeypatch.setattr(fleet, "time", SimpleNamespace(time=lambda: real() + off.total_seconds()))


def test_a_pc_clock_a_day_off_is_neither_silent_nor_seen_in_the_future(db, monkeypatch):
    """On PostgreSQL a report is dated by the server's clock: a PC 30 h behind that reports
    now was flagged silent for 30 h. On a file nothing measures the clock; a PC ahead shows
    by a report in the future (it was "seen 0 s ago" for two days after going quiet)."""
    _pc_clock_off(monkeypatch, timedelta(hours=-30))
    _report(db, "behind")
    _pc_clock_off(monkeypatch, timedelta(hours=48))
    _report(db, "ahead")
    monkeypatch.undo()
    by_host = {pc.hostname: pc for pc in fleet.list_fleet(silent_hours=24, engine=db)}
    if is_sqlite(get_engine(db)):
        assert "its clock is ahead of this PC's: its last report is in the future" in (
            by_host["ahead"].flags
        )
        return
    for host in ("behind", "ahead"):
        pc = by_host[host]
        assert abs((pc.last_seen - datetime.now(UTC)).total_seconds()) < 60, host
        assert not any("silent" in f or "future" in f for f in pc.flags), pc.flags
        assert any(f.startswith("clock off by") for f in pc.flags)


def test_a_pc_mapped_by_its_short_name_is_one_pc(db):
    """Mapped as ``linuxpc``, reporting as ``linuxpc.lab.example.org`` (the station lookup
    ignores the DNS domain): one row, not a second one flagged as silent. A PC mapped a
    moment ago that never ran is not called silent either."""
    ensure_tables(get_engine(db), [station])
    for host in ("linuxpc", "newpc"):
        raw_execute(
            db, "INSERT INTO nexus_logger_station VALUES (?, ?, ?, 'it')", (host, SEM, ny(1))
        )
    _report(db, "LinuxPC.lab.example.org", instrument=SEM)
    by_host = {pc.hostname: pc for pc in fleet.list_fleet(silent_hours=24, engine=db)}
    assert set(by_host) == {"linuxpc.lab.example.org", "newpc"}
    assert by_host["linuxpc.lab.example.org"].flags == ()
    assert by_host["newpc"].flags == (
        "reports nothing: an older nexus-logger, or never launched since",
    )


def test_the_viewers_clock_and_old_heartbeats_do_not_make_pcs_seen_or_silent(db, monkeypatch):
    """The staff PC looking is 10 min behind: on PostgreSQL nobody is "ahead" (reports and
    "now" are both the server's). A PC that once beat 48 h ahead and reported since with its
    clock fixed is judged by its report: not in the future now, silent 30 h later."""
    _report(db, "fixed")
    ensure_tables(get_engine(db), [heartbeat])
    ahead = (datetime.now(UTC) + timedelta(hours=48)).isoformat()
    raw_execute(
        db, "INSERT INTO nexus_logger_heartbeat VALUES ('s-1', ?, ?, 'fixed')", (TEM, ahead)
    )
    _pc_clock_off(monkeypatch, timedelta(minutes=-10))
    (pc,) = fleet.list_fleet(silent_hours=24, engine=db)
    monkeypatch.undo()
    if not is_sqlite(get_engine(db)):
        assert pc.flags == (), pc.flags
    later = datetime.now(UTC) + timedelta(hours=30)
    (pc,) = fleet.list_fleet(silent_hours=24, now=later, engine=db)
    assert "silent for more than 24 h" in pc.flags


def test_only_names_the_station_lookup_matches_are_one_pc(db):
    """``scope1.chem`` and ``scope1.physics`` are two PCs; a station ``pc2.lab.example.org``
    does not map a PC that calls itself ``pc2`` (the lookup tries the full name, then the
    short one), so they are two rows too."""
    ensure_tables(get_engine(db), [station])
    for host in ("scope1.chem.example.edu", "pc2.lab.example.org", "scope2"):
        raw_execute(
            db, "INSERT INTO nexus_logger_station VALUES (?, ?, ?, 'it')", (host, SEM, ny(1))
        )
    _report(db, "scope1.physics.example.edu", instrument=SEM)
    _report(db, "pc2", instrument=SEM)
    # Two PCs of one short name, both mapped by the station row of that name.
    _report(db, "scope2.chem.example.edu", instrument=SEM)
    _report(db, "scope2.physics.example.edu", instrument=SEM)
    hosts = {pc.hostname for pc in fleet.list_fleet(engine=db)}
    assert hosts == {
        "scope1.chem.example.edu",
        "scope1.physics.example.edu",
        "pc2.lab.example.org",
        "pc2",
        "scope2.chem.example.edu",
        "scope2.physics.example.edu",
    }


def test_the_running_session_comes_from_the_claim_row(db):
    from nexus_logger.core.sessions import lifecycle

    started = lifecycle.start_session(instrument=TEM, user="alice", engine=db).session
    _report(db, __import__("socket").gethostname())
    (pc,) = fleet.list_fleet(engine=db)
    assert pc.session_identifier == started.session_identifier


def test_a_pc_used_for_two_instruments_never_shows_one_with_the_others_session(db):
    from nexus_logger.core.sessions import lifecycle

    host = __import__("socket").gethostname()
    on_tem = lifecycle.start_session(instrument=TEM, user="alice", engine=db).session
    _report(db, host, instrument=SEM)  # then this PC ran once for SEM (--instrument)
    (pc,) = fleet.list_fleet(engine=db)
    assert (pc.instrument, pc.session_identifier) == (TEM, on_tem.session_identifier)
    # With a session open on the reported instrument too, the row shows that pair.
    on_sem = lifecycle.start_session(instrument=SEM, user="bob", engine=db).session
    (pc,) = fleet.list_fleet(engine=db)
    assert (pc.instrument, pc.session_identifier) == (SEM, on_sem.session_identifier)


def test_the_command_line_reports_the_pc_at_start_and_end(sqlite_db, capsys):
    """As the README says: a PC that only uses the CLI is in the fleet, and a session ended
    since (here by staff, after the PC's last report) is not shown as running."""
    from nexus_logger.core.sessions import lifecycle

    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base]) == 0
    (pc,) = fleet.list_fleet(engine=sqlite_db)
    started = lifecycle.find_open_session(TEM, engine=sqlite_db).session_identifier
    assert (pc.instrument, pc.session_identifier, pc.version) == (TEM, started, __version__)
    assert main(["session", "end", *base]) == 0
    (pc,) = fleet.list_fleet(engine=sqlite_db)
    assert pc.session_identifier is None and pc.last_seen is not None
    assert main(["session", "start", *base]) == 0
    lifecycle.end_session(instrument=TEM, engine=sqlite_db)  # staff, elsewhere
    (pc,) = fleet.list_fleet(engine=sqlite_db)
    assert pc.session_identifier is None  # the PC's last report still names it
    capsys.readouterr()


def test_a_report_never_fails_the_caller(tmp_path):
    """A database that is not there: report_pc says False, raises nothing."""
    missing = str(tmp_path / "gone.sqlite")
    assert fleet.report_pc(
        hostname="pc", instrument=TEM, waiting_events=0, session_identifier=None,
        os_login=None, engine=missing,
    ) is False  # fmt: skip


def test_fleet_command_text_json_and_exit_codes(sqlite_db, capsys):
    assert main(["--db", sqlite_db, "fleet"]) == 0
    assert "No instrument PC has logged" in capsys.readouterr().out
    _report(sqlite_db, "pc-a", version="9.0.0")
    assert main(["--db", sqlite_db, "fleet"]) == 0
    assert "The only PC looks healthy." in capsys.readouterr().out
    _report(sqlite_db, "pc-b", version="8.9.0", waiting_events=3)
    assert main(["--db", sqlite_db, "fleet"]) == 1
    out = capsys.readouterr().out
    assert "1 of 2 PCs needs a look:" in out
    assert "pc-b: runs 8.9.0, older than the newest in the fleet; 3 event(s) waiting" in out
    assert main(["--db", sqlite_db, "fleet", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["pc_count"], data["flagged_count"]) == (2, 1)
    assert {p["hostname"]: p["waiting_events"] for p in data["pcs"]} == {"pc-a": 0, "pc-b": 3}


def test_fleet_refuses_a_file_that_is_not_a_nexuslims_database(tmp_path, capsys):
    """An empty file, or another program's: "No instrument PC has logged yet" (exit 0) was
    untrue; every other command refuses such a file."""
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite"
    raw_execute(str(other), "CREATE TABLE moz_places (id INTEGER)")
    for target in (empty, other):
        assert main(["--db", str(target), "fleet"]) == 6
        out = capsys.readouterr()
        assert "No instrument PC" not in out.out and "NexusLIMS" in out.err


@pytest.mark.postgres
def test_an_instrument_pc_reports_only_for_its_own_instrument(pg_cluster, server):  # noqa: F811
    """With the roles script: the PC's account writes its instrument's row; by hand in SQL it
    cannot write a row for another instrument or change another instrument's PC."""
    assert fleet.report_pc(
        hostname="tem-pc", instrument=TEM, waiting_events=0, session_identifier=None,
        os_login="tech", engine=server["inst_url"],
    )  # fmt: skip
    assert fleet.report_pc(
        hostname="sem-pc", instrument=SEM, waiting_events=0, session_identifier=None,
        os_login="other", engine=server["owner"],
    )  # fmt: skip
    (account,) = {pc.db_account for pc in fleet.list_fleet(engine=server["owner"])} - {"postgres"}
    assert account == server["inst"]  # the server's word, not the client's
    before = raw_query(server["owner"], "SELECT * FROM nexus_logger_pc ORDER BY 1")
    with _as(pg_cluster, server, "inst") as conn:
        for sql in (
            "INSERT INTO nexus_logger_pc (hostname, instrument, version, reported, "
            "waiting_events) VALUES ('fake', 'TEST-SEM-002', '9', 'now', 0)",
            "UPDATE nexus_logger_pc SET waiting_events = 99 WHERE hostname = 'sem-pc'",
            "DELETE FROM nexus_logger_pc WHERE hostname = 'sem-pc'",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(sql)
    assert raw_query(server["owner"], "SELECT * FROM nexus_logger_pc ORDER BY 1") == before
    # Its own row: the account and the date are stamped by the server, whatever it writes.
    with _as(pg_cluster, server, "inst") as conn:
        conn.execute(
            "UPDATE nexus_logger_pc SET db_account = 'staff_jsmith', "
            "reported = '2099-01-01T00:00:00+00:00' WHERE hostname = 'tem-pc'"
        )
    (tem,) = [pc for pc in fleet.list_fleet(engine=server["owner"]) if pc.hostname == "tem-pc"]
    assert tem.db_account == server["inst"]
    assert abs((tem.last_seen - datetime.now(UTC)).total_seconds()) < 60
    assert not fleet.report_pc(
        hostname="tem-pc",
        instrument=SEM,
        waiting_events=0,
        session_identifier=None,
        os_login="tech",
        engine=server["inst_url"],
    )  # refused by the server: reported as not written


def test_relinking_a_pc_drops_its_report_of_the_old_instrument(db):
    """``station set`` to another instrument: the PC's report of the old one goes (the PC
    reports again at its next heartbeat); a report of the same instrument stays, and so do
    other PCs' reports."""
    _report(db, "moved.lab.org", instrument=SEM)
    _report(db, "stays", instrument=SEM)
    set_station(SEM, hostname="stays", engine=db)  # the same instrument: nothing to drop
    set_station(TEM, hostname="MOVED", engine=db)  # linked by its short name, as IT may
    rows = raw_query(db, "SELECT hostname, instrument FROM nexus_logger_pc ORDER BY 1")
    assert rows == [("stays", SEM)]
    (moved,) = [pc for pc in fleet.list_fleet(engine=db) if pc.hostname == "moved"]
    assert moved.instrument == TEM


def test_a_pc_moved_to_another_instrument_reports_under_its_new_account(
    pg_cluster,
    server,  # noqa: F811
):
    """With the roles script, the moved PC's account may not overwrite its old instrument's
    report: before, that refusal (only in the PC's log) left the Fleet page showing the old
    instrument for good. Staff re-linking the PC clears the old row."""
    owner, inst = server["owner"], server["inst_url"]
    moved = {"hostname": "moved-pc", "waiting_events": 0, "session_identifier": None}
    assert fleet.report_pc(instrument=SEM, os_login="tech", engine=owner, **moved)
    assert not fleet.report_pc(instrument=TEM, os_login="tech", engine=inst, **moved)
    set_station(TEM, hostname="moved-pc", engine=owner)  # staff re-link it
    assert fleet.report_pc(instrument=TEM, os_login="tech", engine=inst, **moved)
    (pc,) = [pc for pc in fleet.list_fleet(engine=owner) if pc.hostname == "moved-pc"]
    assert (pc.instrument, pc.db_account) == (TEM, server["inst"])
