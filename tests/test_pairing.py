"""``get_sessions_to_build`` pairs exactly as NexusLIMS 2.8 does, on the rare row orders too.

The SQLite path pairs rows in id order as they are read, the PostgreSQL path hash-joins on
the server (core/sessions/pairing.py); both are compared with the real NexusLIMS (SQLite) and with
NexusLIMS's loop written out literally (both backends), on rows that exercise every branch:
an END written before its START, several ENDs, two STARTs with one key, NULL and empty users,
an END of another instrument, an instrument missing from ``instruments``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nexus_logger.core import get_sessions_to_build
from nexus_logger.core.session_handler import db_query
from tests.nexuslims_ref import nexuslims_sessions_to_build

TEM, SEM = "TEST-TEM-001", "TEST-SEM-002"

#: (identifier, instrument, timestamp, event, user), inserted in this order (= id order).
ROWS_NEXUSLIMS_CAN_BUILD = [
    ("plain", TEM, "2025-03-01T09:00:00.123456-05:00", "START", "alice"),
    ("end-first", SEM, "2025-03-01T11:00:00+01:00", "END", "bob"),
    ("plain", TEM, "2025-03-01T10:00:00-05:00", "END", "alice"),
    ("end-first", SEM, "2025-03-01T10:00:00+01:00", "START", "bob"),
    ("two-ends", SEM, "2025-03-02T09:00:00+01:00", "START", "carol"),
    ("two-ends", SEM, "2025-03-02T09:10:00+01:00", "END", "carol"),
    ("two-ends", SEM, "2025-03-02T09:20:00+01:00", "END", "mallory"),
    ("two-ends", TEM, "2025-03-02T09:25:00-05:00", "END", "carol"),
    ("two-ends", SEM, "2025-03-02T10:00:00+01:00", "END", "carol"),
    ("same-key", TEM, "2025-03-03T09:00:00-05:00", "START", "dave"),
    ("same-key", TEM, "2025-03-03T09:30:00-05:00", "END", "dave"),
    ("same-key", TEM, "2025-03-03T10:00:00-05:00", "START", "dave"),
    ("same-key", TEM, "2025-03-03T11:00:00-05:00", "END", "dave"),
    ("null-user", TEM, "2025-03-04T09:00:00-05:00", "START", None),
    ("null-user", TEM, "2025-03-04T10:00:00-05:00", "END", None),
    ("empty-user", SEM, "2025-03-04T09:00:00+01:00", "START", ""),
    ("empty-user", SEM, "2025-03-04T10:00:00+01:00", "END", ""),
    ("late-twin", TEM, "2025-03-05T08:00:00-05:00", "END", "erin"),
    ("late-twin", TEM, "2025-03-05T07:00:00-05:00", "START", "erin"),
    ("late-twin", TEM, "2025-03-05T09:00:00-05:00", "START", "erin"),
    # An END before the first START, a newer END between the STARTs: both take the newer.
    ("early-and-late", SEM, "2025-03-05T08:00:00+01:00", "END", "hank"),
    ("early-and-late", SEM, "2025-03-05T07:00:00+01:00", "START", "hank"),
    ("early-and-late", SEM, "2025-03-05T08:30:00+01:00", "END", "hank"),
    ("early-and-late", SEM, "2025-03-05T09:00:00+01:00", "START", "hank"),
    # The newest END of the key is on another instrument: the START keeps its own.
    ("other-last", SEM, "2025-03-06T09:00:00+01:00", "START", "ivan"),
    ("other-last", SEM, "2025-03-06T10:00:00+01:00", "END", "ivan"),
    ("other-last", TEM, "2025-03-06T09:25:00-05:00", "END", "ivan"),
    # Two ENDs before their START: the newer of them.
    ("two-early", TEM, "2025-03-07T08:00:00-05:00", "END", "judy"),
    ("two-early", TEM, "2025-03-07T08:30:00-05:00", "END", "judy"),
    ("two-early", TEM, "2025-03-07T07:00:00-05:00", "START", "judy"),
]
#: Rows NexusLIMS refuses (it raises) or cannot name an instrument for.
ROWS_ONLY_LENIENT = [
    ("null-vs-empty", TEM, "2025-03-06T09:00:00-05:00", "START", None),
    ("null-vs-empty", TEM, "2025-03-06T10:00:00-05:00", "END", ""),
    ("unknown-pid", "NOT-IN-INSTRUMENTS", "2025-03-07T09:00:00+00:00", "START", "frank"),
    ("unknown-pid", "NOT-IN-INSTRUMENTS", "2025-03-07T10:00:00+00:00", "END", "frank"),
]


def _insert(db: str, rows: list[tuple[str, str, str, str, str | None]]) -> None:
    for ident, pid, stamp, event, user in rows:
        ok, _ = db_query(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, \"user\") VALUES (?, ?, ?, ?, 'TO_BE_BUILT', ?)",
            (ident, pid, stamp, event, user),
            engine=db,
        )
        assert ok


def _nexuslims_loop(rows: list[tuple[str, str, str, str, str | None]]) -> tuple[list, list]:
    """NexusLIMS 2.8's ``get_sessions_to_build`` loop, written out (ids = list positions)."""
    logs = [(i, *row) for i, row in enumerate(rows)]
    starts = [log for log in logs if log[4] == "START"]
    ends = [log for log in logs if log[4] == "END"]
    built, unpaired = [], []
    for _, ident, pid, stamp, _, user in starts:
        matches = [e for e in ends if e[1] == ident and e[2] == pid and e[5] == user]
        if not matches:
            unpaired.append(ident)
            continue
        newest = max(matches, key=lambda e: e[0])
        built.append((ident, pid, user, stamp, newest[3]))
    return built, unpaired


def _ours(db: str) -> tuple[list, list]:
    got = get_sessions_to_build(strict=False, engine=db)
    built = [
        (
            s.session_identifier,
            s.instrument.instrument_pid,
            s.user,
            s.dt_from.isoformat(),
            s.dt_to.isoformat(),
        )
        for s in got
    ]
    return built, [u.session_identifier for u in got.unpaired]


def test_every_branch_as_nexuslims_loop(db: str) -> None:
    rows = ROWS_NEXUSLIMS_CAN_BUILD + ROWS_ONLY_LENIENT
    if db.startswith("postgresql"):  # PostgreSQL enforces the foreign key
        rows = [r for r in rows if r[0] != "unknown-pid"]
    _insert(db, rows)
    expected_built, expected_unpaired = _nexuslims_loop(rows)
    assert expected_unpaired == ["null-vs-empty"]
    assert _ours(db) == (expected_built, expected_unpaired)
    if not db.startswith("postgresql"):
        # A PID missing from instruments gets add_instrument's defaults, not empty columns.
        (unknown,) = [
            s
            for s in get_sessions_to_build(strict=False, engine=db)
            if s.session_identifier == "unknown-pid"
        ]
        inst = unknown.instrument
        assert (inst.filestore_path, inst.harvester, inst.display_name, inst.timezone_str) == (
            "NOT-IN-INSTRUMENTS",
            "nemo",
            "NOT-IN-INSTRUMENTS",
            "UTC",
        )
    with pytest.raises(ValueError, match="null-vs-empty"):
        get_sessions_to_build(engine=db)


def _mixed_rows(seed: int, sessions: int) -> list[tuple[str, str, str, str, str | None]]:
    """Usual sessions (a START, then its END) interleaved with every unusual kind."""
    rng = random.Random(seed)
    minute = iter(range(10**6))

    def stamp() -> str:  # NexusLIMS's shape: microseconds and an offset
        return f"2025-03-{1 + next(minute) // 1440 % 28:02d}T{rng.randrange(24):02d}:00:00.{rng.randrange(10**6):06d}-05:00"

    streams: list[list[tuple[str, str, str, str, str | None]]] = []
    idents: list[str] = []
    for n in range(sessions):
        ident, pid, user = f"s{n}", rng.choice([TEM, SEM]), rng.choice(["ann", "bo", None, ""])
        if idents and rng.random() < 0.1:
            ident = rng.choice(idents)  # an identifier used before (by anyone)
        idents.append(ident)
        start, end = (ident, pid, stamp(), "START", user), (ident, pid, stamp(), "END", user)
        other = (ident, pid, stamp(), "END", "eve")
        kind = rng.choice(["usual"] * 6 + ["end first", "two ends", "no end", "other user"])
        streams.append(
            {
                "usual": [start, end],
                "end first": [end, start],
                "two ends": [start, end, (ident, pid, stamp(), "END", user)],
                "no end": [start],
                "other user": [start, other, end] if rng.random() < 0.5 else [start, other],
            }[kind]
        )
    rows: list[tuple[str, str, str, str, str | None]] = []
    while streams:  # sessions overlap in time, each one's rows in their own order
        stream = rng.choice(streams[:4])
        rows.append(stream.pop(0))
        if not stream:
            streams.remove(stream)
    return rows


@pytest.mark.parametrize(("seed", "sessions"), [(1, 1500), (2, 1500), (3, 300)])
def test_usual_and_unusual_sessions_mixed_as_nexuslims_loop(
    db: str, seed: int, sessions: int
) -> None:
    """The scan's shortcut for the usual session and the full rule for the others agree with
    NexusLIMS's loop; more than 500 unusual identifiers (1,500 sessions) are read again by a
    second scan, fewer (300) through the index."""
    from sqlalchemy import insert

    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.db.models import session_log

    rows = _mixed_rows(seed, sessions)
    with get_engine(db).begin() as conn:
        conn.execute(
            insert(session_log),
            [
                {
                    "session_identifier": i,
                    "instrument": p,
                    "timestamp": t,
                    "event_type": e,
                    "record_status": "TO_BE_BUILT",
                    "user": u,
                }
                for i, p, t, e, u in rows
            ],
        )
    built, unpaired = _nexuslims_loop(rows)
    assert len(built) > sessions * 2 // 3 and unpaired
    assert _ours(db) == (built, unpaired)


def test_every_branch_as_real_nexuslims(sqlite_db: str, nexuslims_python: Path) -> None:
    _insert(sqlite_db, ROWS_NEXUSLIMS_CAN_BUILD)
    theirs = nexuslims_sessions_to_build(nexuslims_python, Path(sqlite_db))
    assert "error" not in theirs, theirs
    expected = [
        (t["session_identifier"], t["instrument"], t["user"], t["dt_from"], t["dt_to"])
        for t in theirs["sessions"]
    ]
    assert len(expected) == 13  # same-key, late-twin, early-and-late: two sessions each
    assert _ours(sqlite_db) == (expected, [])


def test_unreadable_times_are_reported_not_built(db: str) -> None:
    _insert(
        db,
        [
            ("bad-start", TEM, "yesterday", "START", "gina"),
            ("bad-start", TEM, "2025-03-08T10:00:00-05:00", "END", "gina"),
            ("bad-end", TEM, "2025-03-08T11:00:00-05:00", "START", "gina"),
            ("bad-end", TEM, "noon", "END", "gina"),
            ("fixed-end", TEM, "2025-03-08T13:00:00-05:00", "START", "gina"),
            ("fixed-end", TEM, "later", "END", "gina"),
            ("fixed-end", TEM, " 2025-03-08T14:00:00-05:00 ", "END", "gina"),
        ],
    )
    got = get_sessions_to_build(strict=False, engine=db)
    assert [s.session_identifier for s in got] == ["fixed-end"]
    assert got[0].dt_to.isoformat() == "2025-03-08T14:00:00-05:00"
    assert [(u.session_identifier, u.timestamp) for u in got.unpaired] == [
        ("bad-start", "yesterday"),
        ("bad-end", "2025-03-08T11:00:00-05:00"),
    ]
    with pytest.raises(ValueError, match="Invalid isoformat string: 'yesterday'"):
        get_sessions_to_build(engine=db)


@pytest.mark.parametrize(
    "start_ids",
    [
        [5, 2, 9, 7, 3],  # dense ids out of order: placed by id
        [5_000_000, 2, 9, 7, 3],  # too sparse for a table by id: sorted
        [5, 2, 9, 2, 3],  # START 2 with two ENDs: sorted, the newest END kept
    ],
)
def test_joined_rows_in_any_order_come_out_in_start_order(start_ids: list[int]) -> None:
    """The PostgreSQL path's rows arrive in whatever order the parallel hash join gives."""
    from nexus_logger.core.session_handler import Session
    from nexus_logger.core.sessions import pairing
    from nexus_logger.core.sessions_to_build import session_factory

    factory = session_factory(Session, {}, None)
    rows = [  # (START id, identifier, instrument, user, START, END id, END)
        (
            sid,
            f"s{sid}",
            TEM,
            "u",
            f"2025-03-01T09:00:{n:02d}+00:00",
            100 + n,
            f"2025-03-01T10:00:{n:02d}+00:00",
        )
        for n, sid in enumerate(start_ids)
    ]
    order, ids = pairing.pair_joined(rows, factory)
    assert list(ids) == sorted(set(start_ids))
    assert [s.session_identifier for s in order] == [f"s{sid}" for sid in sorted(set(start_ids))]
    if start_ids.count(2) == 2:  # the later row of START 2 carries the newer END (id 103)
        (two,) = [s for s in order if s.session_identifier == "s2"]
        assert two.dt_to.second == 3


#: Times as NexusLIMS 2.x writes them (32 characters) and every other shape a database may
#: hold, mixed so that texts of each shape come after an offset has been seen.
PARSE_TEXTS: list[str | bytes] = [
    "2025-03-01T09:00:00.123456-05:00",
    "2025-03-01T09:00:01.000001-05:00",
    "2025-03-09T03:00:00.500000-04:00",  # daylight saving time: another offset
    "2025-03-01T09:00:00-05:00",  # no microseconds (isoformat drops zeros): 25 characters
    "2025-03-01T14:00:00.654321+00:00",  # UTC
    "2025-03-01T14:00:00.654321-00:00",
    "2025-03-01T19:30:00.000100+05:30",
    "2025-03-01T19:30:00.000200+05:30",
    "2025-03-01T14:00:00.654321Z00000",  # 32 characters, no offset
    "2025-03-01T09:00:00.1+01:00-05:00",  # an offset inside the first 26 characters
    "2025-03-01T09:00:00+01:0-05:00",
    "xxxx-03-01T09:00:00.123456-05:00",  # 32 characters, the offset of an anchor, unreadable
    "2025-03-01T09:00:00.123456",  # 1.x: naive, read in the instrument's zone
    "2025-03-01 09:00:00.123456-05:00",  # a space for the T
    "9999-12-31T23:59:59.999999-05:00",  # the last moment a datetime can hold
    "0001-01-01T00:00:00.000000-05:00",
    "9999-12-31T20:00:00-05:00",  # past the range in UTC, after its offset was seen
    "0001-01-01T00:00:00+05:00",
    # Offsets with seconds: 32 characters whose end is not an offset; no anchor from them.
    "2025-03-01T09:00:00.123+05:30:15",
    "2025-03-01T10:00:00.123456:30:15",  # unreadable
    "2025-03-01T09:00+05:30:15.123456",
    "2025-03-01T10:00:00.000000123456",  # naive: the instrument's zone
    b"2025-03-01T09:00:00",  # a BLOB: unreadable, not an error
]


def test_factory_reads_every_text_as_a_full_parse_does() -> None:
    """The shortcut for NexusLIMS's own shape gives what reading each text in full gives."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from nexus_logger.core.session_handler import Session
    from nexus_logger.core.sessions_to_build import session_factory

    zone = ZoneInfo("America/New_York")
    shared = session_factory(Session, {}, None)  # reads texts after it has seen their offset
    for text in PARSE_TEXTS * 2:
        fresh = session_factory(Session, {}, None).parse(text, zone)  # nothing seen before
        got = shared.parse(text, zone)
        assert type(got) is type(fresh), text
        if not isinstance(fresh, datetime):
            assert got == fresh == text
        else:
            assert (got, got.isoformat(), got.utcoffset()) == (
                fresh,
                fresh.isoformat(),
                fresh.utcoffset(),
            ), text
    assert set(shared.anchors) == {"-05:00", "-04:00", "+00:00", "+05:30"}  # the shortcut ran
    # One tzinfo object per UTC offset, whichever way a time was read (a 1.x time has the
    # instrument's zone, as NexusLIMS reads it).
    aware = [shared.parse(t, zone) for t in PARSE_TEXTS]
    aware = [v for v in aware if isinstance(v, datetime)]
    kinds = {(type(v.tzinfo), v.utcoffset()) for v in aware}
    assert len({id(v.tzinfo) for v in aware}) == len(kinds)
