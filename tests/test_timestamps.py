"""Timestamps read and written as NexusLIMS 2.x does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core import timestamps


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2025-01-06T08:06:34-05:00", datetime(2025, 1, 6, 13, 6, 34, tzinfo=UTC)),
        ("2025-01-06T13:06:34Z", datetime(2025, 1, 6, 13, 6, 34, tzinfo=UTC)),
        ("2025-01-06 08:06:34.250000-05:00", datetime(2025, 1, 6, 13, 6, 34, 250000, tzinfo=UTC)),
        ("2025-01-06T08:06:34", datetime(2025, 1, 6, 13, 6, 34, tzinfo=UTC)),  # naive: NY
        (
            "2025-07-06T08:06:34.123",
            datetime(2025, 7, 6, 12, 6, 34, 123000, tzinfo=UTC),
        ),  # NY in DST
    ],
)
def test_parse_accepts_what_nexuslims_accepts(text: str, utc: datetime) -> None:
    value = timestamps.parse(text, "America/New_York")
    assert value.tzinfo is not None
    assert value == utc


def test_to_db_is_aware_isoformat_in_instrument_zone() -> None:
    instant = datetime(2025, 1, 6, 13, 6, 34, tzinfo=UTC)
    assert timestamps.to_db(instant, "America/Denver") == "2025-01-06T06:06:34-07:00"
    assert (
        timestamps.to_db(datetime(2025, 1, 6, 8, 0), "Europe/Berlin") == "2025-01-06T08:00:00+01:00"
    )
    assert datetime.fromisoformat(
        timestamps.to_db(timestamps.now_in("Asia/Kolkata"))
    ).utcoffset() == timedelta(hours=5, minutes=30)


def test_garbage_is_refused_with_a_clear_error() -> None:
    with pytest.raises(timestamps.TimestampError, match="not an ISO-8601"):
        timestamps.parse("last tuesday")


def test_sort_key_orders_by_instant() -> None:
    texts = ["2025-01-06T10:00:00+05:30", "2025-01-06T09:00:00-05:00", "2025-01-06T06:00:00+01:00"]
    ordered = sorted(texts, key=timestamps.sort_key)
    assert [timestamps.parse(t) for t in ordered] == sorted(timestamps.parse(t) for t in texts)
    assert timestamps.sort_key("nonsense") == float("inf")


def test_zone_names_match_in_any_case_as_nexuslims_reads_them() -> None:
    """NexusLIMS's ``pytz.timezone`` ignores case: 'europe/berlin' is Berlin, not UTC."""
    assert timestamps.zone("europe/berlin") is timestamps.zone("Europe/Berlin")
    assert timestamps.canonical_zone("AMERICA/NEW_YORK") == "America/New_York"
    assert timestamps.is_valid_zone("asia/kolkata")
    assert timestamps.canonical_zone("Mars/Olympus_Mons") is None


def test_unknown_zone_falls_back_to_utc() -> None:
    assert timestamps.zone("Mars/Olympus_Mons") is timestamps.zone(None)
    assert not timestamps.is_valid_zone("Mars/Olympus_Mons")
    assert timestamps.is_valid_zone("Europe/Berlin") and isinstance(
        timestamps.zone("Europe/Berlin"), ZoneInfo
    )


@pytest.mark.parametrize(
    ("zone", "wall", "as_nexuslims_reads_it"),
    [
        # What pytz's localize() (NexusLIMS 2.8, is_dst=False) gave for each, in its venv.
        ("America/New_York", "2026-11-01T01:30:00", "2026-11-01T01:30:00-05:00"),  # repeated
        ("America/New_York", "2026-03-08T02:30:00", "2026-03-08T02:30:00-05:00"),  # skipped
        ("America/New_York", "2026-07-01T09:00:00", "2026-07-01T09:00:00-04:00"),
        ("Australia/Lord_Howe", "2026-04-05T01:45:00", "2026-04-05T01:45:00+10:30"),
        ("Australia/Lord_Howe", "2026-10-04T02:15:00", "2026-10-04T02:15:00+10:30"),
        ("Europe/Berlin", "2026-10-25T02:30:00", "2026-10-25T02:30:00+01:00"),
        ("Europe/Berlin", "2026-03-29T02:30:00", "2026-03-29T02:30:00+01:00"),
        ("Asia/Kolkata", "2026-10-25T02:30:00", "2026-10-25T02:30:00+05:30"),
        ("Europe/Dublin", "2026-03-29T01:30:00", "2026-03-29T01:30:00+00:00"),  # skipped
        ("Europe/Dublin", "2026-10-25T01:30:00", "2026-10-25T01:30:00+01:00"),  # repeated
        ("Africa/Casablanca", "2026-03-22T02:30:00", "2026-03-22T02:30:00+00:00"),
    ],
)
def test_a_time_without_offset_is_read_as_nexuslims_reads_it(
    zone: str, wall: str, as_nexuslims_reads_it: str
) -> None:
    assert timestamps.parse(wall, zone).isoformat() == as_nexuslims_reads_it


def test_this_pc_s_time_names_a_zone_windows_spells_out_by_its_offset() -> None:
    """Windows names zones in words ("W. Europe Standard Time", or German on a German PC):
    the Audit page, the Fleet page and the bridge line showed that whole in a table cell."""
    from datetime import timezone

    at = datetime(2026, 3, 10, 13, 30, 12, tzinfo=UTC)
    words = timezone(timedelta(hours=1), "W. Europe Standard Time")
    assert timestamps.on_this_pc(at, words) == "2026-03-10 14:30:12 UTC+01:00"
    short = timezone(timedelta(hours=-4), "EDT")
    assert timestamps.on_this_pc(at, short) == "2026-03-10 09:30:12 EDT"
