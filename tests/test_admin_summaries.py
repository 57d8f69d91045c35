"""The admin list's queries: filters, sorting, paging, counts, detail, timeline and CSV."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.staff.summaries import (
    CSV_COLUMNS,
    SORT_KEYS,
    SessionQuery,
    count_by_status,
    export_csv,
    matching_count,
    query_sessions,
    session_events,
    timeline_sessions,
)
from tests.helpers_admin import NOW, SEM, TEM, insert_rows, ny, session

PENDING = frozenset({"TO_BE_BUILT"})


def _build(db: str) -> None:
    """Six sessions on two instruments and three zones, one open, one with a note."""
    session(db, "s1", user="alice", status="COMPLETED", start_h=100, end_h=99, generations=1)
    session(db, "s2", user="bob", status="TO_BE_BUILT", start_h=80, end_h=70)
    session(db, "s3", user="carol", status="ERROR", start_h=60, end_h=59.5, generations=2)
    session(db, "s4", user="Dave", status="TO_BE_BUILT", start_h=40, end_h=39)
    berlin = (NOW - timedelta(hours=39)).astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    insert_rows(
        db,
        [  # s5 starts 1 h after s4 in real time; its Berlin text sorts before s4's
            ("s5", "TEST-SEM-002", berlin, "START", "TO_BE_BUILT", "erin"),
            ("s5", "TEST-SEM-002", ny(30), "END", "TO_BE_BUILT", "erin"),
        ],
    )
    session(db, "s6", user="frank", status="WAITING_FOR_END", start_h=2, end_h=None)
    lifecycle.set_note("s6", "Lamella #3, grid B", engine=db)


def _ids(rows) -> list[str]:
    return [r.session_identifier for r in rows]


def test_a_day_filter_is_the_instruments_day_whatever_offset_a_time_was_written_with(
    db: str,
) -> None:
    """Listed under the day it shows: a Berlin session written with a UTC offset (another
    writer) late on 6 Feb UTC began on 7 Feb in Berlin; a 1.x time without an offset is on
    its own date; an instrument not in the table keeps its text's date."""
    insert_rows(
        db,
        [
            ("utc-text", SEM, "2025-02-06T23:30:00+00:00", "START", "TO_BE_BUILT", "u"),
            ("utc-text", SEM, "2025-02-07T01:00:00+00:00", "END", "TO_BE_BUILT", "u"),
            ("wall-1x", TEM, "2025-02-06T23:30:00.000", "START", "TO_BE_BUILT", "w"),
            ("wall-1x", TEM, "2025-02-07T01:00:00.000", "END", "TO_BE_BUILT", "w"),
            # At midnight exactly (SQLite's float instant fell microseconds before it), a
            # date alone, an hour alone (the date's hyphens are no offset), seven digits of
            # a second (PostgreSQL cannot cast it; Python reads it): each on its own day.
            ("midnight", SEM, "2025-07-01T00:00:00+02:00", "START", "TO_BE_BUILT", "m"),
            # ...and one in its day's last millisecond stays on it.
            ("last-ms", SEM, "2025-07-01T23:59:59.999+02:00", "START", "TO_BE_BUILT", "l"),
            ("date-only", TEM, "2025-02-06", "START", "TO_BE_BUILT", "d"),
            ("hour-only", TEM, "2025-02-06T23", "START", "TO_BE_BUILT", "h"),
            ("seven", SEM, "2025-02-07T09:30:00.1234567+01:00", "START", "TO_BE_BUILT", "s"),
        ],
    )
    unknown = not db.startswith("postgresql")  # (PostgreSQL's foreign key refuses the row)
    if unknown:
        insert_rows(
            db, [("nowhere", "GONE-9", "2025-02-06T23:30:00+09:00", "START", "TO_BE_BUILT", "n")]
        )
    q = SessionQuery()
    on_6th = set(
        _ids(
            query_sessions(q.with_(date_from=date(2025, 2, 6), date_to=date(2025, 2, 6)), engine=db)
        )
    )
    on_7th = set(
        _ids(
            query_sessions(q.with_(date_from=date(2025, 2, 7), date_to=date(2025, 2, 7)), engine=db)
        )
    )
    sixth = {"wall-1x", "date-only", "hour-only"}
    assert on_6th == ((sixth | {"nowhere"}) if unknown else sixth)
    assert on_7th == {"utc-text", "seven"}
    july_1st = q.with_(date_from=date(2025, 7, 1), date_to=date(2025, 7, 1))
    assert sorted(_ids(query_sessions(july_1st, engine=db))) == ["last-ms", "midnight"]
    assert set(_ids(query_sessions(q.with_(date_to=date(2025, 2, 6)), engine=db))) == on_6th
    assert "utc-text" in _ids(query_sessions(q.with_(date_from=date(2025, 2, 7)), engine=db))
    counts = count_by_status(
        q.with_(date_from=date(2025, 2, 7), date_to=date(2025, 2, 7)), engine=db
    )
    assert matching_count(counts, None) == 2


def test_default_pending_view_counts_and_order(db: str) -> None:
    _build(db)
    rows = query_sessions(SessionQuery(statuses=PENDING), now=NOW, engine=db)
    assert _ids(rows) == ["s5", "s4", "s2"]  # newest start first, by instant across zones
    counts = count_by_status(SessionQuery(statuses=PENDING), engine=db)
    assert counts["TO_BE_BUILT"] == 3 and counts["COMPLETED"] == 1 and counts["ERROR"] == 1
    assert counts["WAITING_FOR_END"] == 1 and counts["NO_CONSENT"] == 0
    assert len(counts) == 8
    assert matching_count(counts, PENDING) == 3 and matching_count(counts, None) == 6

    s2 = rows[2]
    assert (s2.user, s2.end_user, s2.status, s2.record_generation_events) == (
        "bob",
        "bob",
        "TO_BE_BUILT",
        0,
    )
    assert s2.duration_seconds() == 10 * 3600
    assert s2.timezone == "America/New_York" and s2.start_id is not None


def test_filters(db: str) -> None:
    _build(db)
    q = SessionQuery()
    assert _ids(query_sessions(q.with_(statuses=frozenset({"ERROR", "COMPLETED"})), engine=db)) == [
        "s3",
        "s1",
    ]
    assert _ids(query_sessions(q.with_(instrument="TEST-SEM-002"), engine=db)) == ["s5"]
    # Free text: case-insensitive, in user, identifier, instrument and note.
    assert _ids(query_sessions(q.with_(text="dave"), engine=db)) == ["s4"]
    assert _ids(query_sessions(q.with_(text="grid b"), engine=db)) == ["s6"]
    assert _ids(query_sessions(q.with_(text="SEM-002"), engine=db)) == ["s5"]
    assert _ids(query_sessions(q.with_(text="%"), engine=db)) == []  # wildcards are text
    # Dates: the instrument's local calendar day of the START.
    day = date.fromisoformat(ny(80)[:10])  # 2025-02-07 in New York
    assert _ids(query_sessions(q.with_(date_from=day, date_to=day), engine=db)) == ["s2"]
    later = query_sessions(q.with_(date_from=date(2025, 2, 8)), engine=db)
    assert set(_ids(later)) == {"s3", "s4", "s5", "s6"}
    before = query_sessions(q.with_(date_to=date(2025, 2, 7)), engine=db)
    assert set(_ids(before)) == {"s1", "s2"}
    # The calendar's first and last days (typed, or picked in the Admin tab) leave nothing
    # out; they overflowed the date arithmetic ("unexpected error: date value out of range").
    everything = set(_ids(query_sessions(q, engine=db)))
    ends = q.with_(date_from=date.min, date_to=date.max)
    assert set(_ids(query_sessions(ends, engine=db))) == everything
    assert matching_count(count_by_status(ends, engine=db), None) == len(everything)
    counts = count_by_status(q.with_(text="dave"), engine=db)
    assert matching_count(counts, None) == 1
    with pytest.raises(InvalidInput, match="Swap"):
        SessionQuery(date_from=date(2025, 2, 2), date_to=date(2025, 2, 1))
    with pytest.raises(InvalidInput, match="record status"):
        SessionQuery(statuses=frozenset({"DONE"}))
    with pytest.raises(InvalidInput, match="sort by"):
        SessionQuery(sort="colour")


@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_column_sorts_both_ways(sqlite_db: str, key: str) -> None:
    _build(sqlite_db)
    up = _ids(query_sessions(SessionQuery(sort=key, descending=False), now=NOW, engine=sqlite_db))
    down = _ids(query_sessions(SessionQuery(sort=key), now=NOW, engine=sqlite_db))
    assert sorted(up) == sorted(down) == ["s1", "s2", "s3", "s4", "s5", "s6"]
    expected_up = {
        "session_identifier": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "instrument": ["s5", "s1", "s2", "s3", "s4", "s6"],  # SEM < TEM, then by START row
        "user": ["s4", "s1", "s2", "s3", "s5", "s6"],  # binary order: 'Dave' < 'alice'
        "start": ["s1", "s2", "s3", "s4", "s5", "s6"],  # s5 (Berlin) after s4 (New York)
        "end": ["s1", "s2", "s3", "s4", "s5", "s6"],  # the open one ends "now"
        "duration": ["s3", "s1", "s4", "s6", "s5", "s2"],  # s6 is open for 2 h
        "status": ["s1", "s3", "s2", "s4", "s5", "s6"],
        "record_generation_events": ["s2", "s4", "s5", "s6", "s1", "s3"],
        "note": ["s6", "s1", "s2", "s3", "s4", "s5"],  # sessions without note last
    }[key]
    assert up == expected_up, key
    if key in ("session_identifier", "start", "end"):
        assert down == up[::-1]


def test_paging_is_complete_and_stable(db: str) -> None:
    for i in range(23):
        session(db, f"p{i:02d}", user=f"u{i % 4}", start_h=100 - i, end_h=99.5 - i)
    q = SessionQuery(sort="user")
    whole = _ids(query_sessions(q, limit=None, engine=db))
    pages = []
    for offset in range(0, 30, 5):
        pages += _ids(query_sessions(q, offset=offset, limit=5, engine=db))
    assert pages == whole and len(set(whole)) == 23


def test_session_events_detail(reference_db: str) -> None:
    events = session_events("128b2f33-0c5c-4fd0-a6a3-a4506513270e", engine=reference_db)
    assert [(e.event_type, e.record_status, e.user) for e in events] == [
        ("START", "COMPLETED", "alice"),
        ("END", "COMPLETED", "alice"),
        ("RECORD_GENERATION", "COMPLETED", "nexuslims"),
    ]
    assert events[2].timestamp_text == "2025-01-07T08:54:31.861169-05:00"
    assert events[2].timestamp == datetime(2025, 1, 7, 13, 54, 31, 861169, tzinfo=UTC)
    assert not any(e.naive for e in events)
    assert session_events("nope", engine=reference_db) == []


def test_reference_fixture_pending_and_completed(reference_db: str) -> None:
    pending = query_sessions(SessionQuery(statuses=PENDING), engine=reference_db)
    assert len(pending) == 6
    assert all(s.end is not None and s.record_generation_events == 0 for s in pending)
    done = query_sessions(SessionQuery(statuses=frozenset({"COMPLETED"})), engine=reference_db)
    assert sorted(s.user for s in done) == ["alice", "bob"]
    assert all(s.record_generation_events == 1 for s in done)
    counts = count_by_status(engine=reference_db)
    assert (counts["TO_BE_BUILT"], counts["COMPLETED"], counts["WAITING_FOR_END"]) == (6, 2, 1)


def test_timeline_window(db: str) -> None:
    _build(db)
    window = timeline_sessions(NOW - timedelta(hours=45), NOW, now=NOW, engine=db)
    assert sorted(_ids(window)) == ["s4", "s5", "s6"]
    open_one = next(s for s in window if s.session_identifier == "s6")
    assert open_one.end is None and open_one.is_open
    narrow = timeline_sessions(NOW - timedelta(hours=61), NOW - timedelta(hours=59.8), engine=db)
    assert _ids(narrow) == ["s3"]
    with pytest.raises(InvalidInput):
        timeline_sessions(datetime(2025, 1, 1), NOW, engine=db)


def test_csv_export(sqlite_db: str, tmp_path: Path) -> None:
    _build(sqlite_db)
    target = tmp_path / "sessions.csv"
    q = SessionQuery(statuses=frozenset({"TO_BE_BUILT", "WAITING_FOR_END"}))
    assert export_csv(q, target, now=NOW, page=2, engine=sqlite_db) == 4
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["session_identifier"] for r in rows] == ["s6", "s5", "s4", "s2"]
    assert rows[0]["end"] == "" and rows[0]["duration_seconds"] == str(2 * 3600)
    assert rows[0]["note"] == "Lamella #3, grid B"
    assert rows[3]["start"] == ny(80) and rows[3]["duration_seconds"] == str(36000)
    assert not list(tmp_path.glob("*.part"))


def test_csv_cells_a_spreadsheet_would_run_as_formulas_stay_text(
    sqlite_db: str, tmp_path: Path
) -> None:
    """A user name or note typed as a formula ran when staff opened the export in Excel
    (the file is made for it). Such cells start with an apostrophe; other text, the times and
    numbers are as before."""
    insert_rows(
        sqlite_db,
        [
            ("f1", "TEST-TEM-001", ny(3), "START", "WAITING_FOR_END", '=HYPERLINK("http://x")'),
        ],
    )
    lifecycle.set_note("f1", "@SUM(1+1)", engine=sqlite_db)
    target = tmp_path / "sessions.csv"
    assert export_csv(SessionQuery(), target, now=NOW, engine=sqlite_db) == 1
    with target.open(encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["user"] == '\'=HYPERLINK("http://x")' and row["note"] == "'@SUM(1+1)"
    assert row["start"] == ny(3) and row["duration_seconds"] == "10800"
    assert row["session_identifier"] == "f1"


def test_sessions_shows_times_as_stored_even_without_an_offset(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """'sessions' promises start and end "as stored": a 1.x time stored without offset was
    printed with one it does not have (the instrument's, which nobody wrote)."""
    import json

    from nexus_logger.cli import main

    insert_rows(
        sqlite_db,
        [
            ("naive", "TEST-TEM-001", "2025-01-09T09:00:00", "START", "COMPLETED", "x"),
            ("naive", "TEST-TEM-001", "2025-01-09T10:00:00", "END", "COMPLETED", "x"),
        ],
    )
    assert main(["sessions", "--db", sqlite_db, "--format", "json"]) == 0
    [row] = [r for r in json.loads(capsys.readouterr().out) if r["session_identifier"] == "naive"]
    assert (row["start"], row["end"]) == ("2025-01-09T09:00:00", "2025-01-09T10:00:00")
    assert main(["sessions", "--db", sqlite_db]) == 0
    assert "2025-01-09T09:00:00-05:00" not in capsys.readouterr().out
