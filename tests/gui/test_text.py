"""How the window writes times and durations."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.gui import text

NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("seconds", "clock"),
    [(0, "0:00:00"), (59.9, "0:00:59"), (249, "0:04:09"), (45000, "12:30:00"), (-5, "0:00:00")],
)
def test_clock(seconds, clock):
    assert text.clock(seconds) == clock


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (725, "12 min"),
        (305, "5 min 5 s"),
        (3 * 3600 + 20 * 60 + 10, "3 h 20 min"),
        (2 * 86400 + 4 * 3600, "2 days 4 h"),
    ],
)
def test_duration(seconds, words):
    assert text.duration(seconds) == words


def test_when_today_yesterday_and_older():
    now = datetime(2026, 3, 10, 15, 30, tzinfo=NY)
    local = text.when(now.replace(hour=9, minute=5), now)
    assert local.startswith("09:05") and local.endswith("today")
    assert text.when(now - timedelta(days=1), now).endswith("yesterday")
    assert text.when(now - timedelta(days=5), now).endswith("on Thu 5 Mar 2026")


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset (not on Windows)")
def test_when_names_the_zone_when_it_is_not_this_pcs(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        value = datetime(2026, 3, 10, 9, 5, tzinfo=KOLKATA)
        assert text.when(value, value) == "09:05 IST today"
        utc = datetime(2026, 3, 10, 9, 5, tzinfo=ZoneInfo("UTC"))
        assert text.when(utc, utc) == "09:05 today"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_ago_and_plural():
    now = datetime(2026, 3, 10, 15, 30, tzinfo=NY)
    assert text.ago(now - timedelta(seconds=20), now) == "just now"
    assert text.ago(now - timedelta(hours=3, minutes=12), now) == "3 h 12 min ago"
    assert text.plural(1, "event") == "1 event" and text.plural(3, "event") == "3 events"


def test_for_user_keeps_the_first_sentence_and_gives_staff_the_rest() -> None:
    from nexus_logger.gui.text import for_user

    sentence, rest = for_user(
        "The instrument 'X-1' is not in the database C:\\data\\nexus.sqlite. "
        "Known instruments: A, B. Run 'nexus-logger station set PID' on this PC."
    )
    assert sentence == "The instrument 'X-1' is not in the database C:\\data\\nexus.sqlite."
    assert rest.startswith("Known instruments") and "nexus-logger" not in sentence
    # A first sentence that is itself a command line is not shown to the user.
    sentence, rest = for_user("Run 'nexus-logger init-db DB' first. Then retry.")
    assert "nexus-logger" not in sentence and rest.startswith("Run 'nexus-logger")
    assert for_user("Short.") == ("Short.", "")


def test_how_long_ago_counts_real_time_over_the_autumn_clock_change() -> None:
    """01:10 EST came twenty minutes after 01:50 EDT on 2026-11-01; by the instrument's wall
    clock (Python's rule for two times in one zone) it was 40 minutes *before*."""
    new_york = ZoneInfo("America/New_York")
    began = datetime.fromisoformat("2026-11-01T01:50:00-04:00").astimezone(new_york)
    now = datetime.fromisoformat("2026-11-01T01:10:00-05:00").astimezone(new_york)
    assert began.tzinfo is now.tzinfo and now.fold == 1
    assert text.ago(began, now) == "20 min ago"


def test_the_admin_tab_rounds_a_duration_as_the_ended_page_does() -> None:
    """1 min 59.7 s: "2 min" on the ended page, and "1 min" in the Admin tab's list."""
    from nexus_logger.gui.admin.models import format_duration

    assert text.duration(119.7) == "2 min" == format_duration(119.7)
    assert format_duration(3600 + 5 * 60 + 29) == "1 h 05 min"
    assert format_duration(-89) == "-1 min"


def test_an_end_on_its_starts_day_as_shown_is_its_time_only() -> None:
    from datetime import datetime

    from nexus_logger.gui.admin.models import format_end

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    ny = "America/New_York"
    assert format_end(at("2025-03-01T09:00-05:00"), at("2025-03-01T12:58-05:00"), ny) == "12:58 EST"
    # 05:40 UTC is 00:40 in New York, the next day there: the date stays.
    assert (
        format_end(at("2025-03-01T23:30-05:00"), at("2025-03-02T05:40+00:00"), ny)
        == "2025-03-02 00:40 EST"
    )
    # No zone (an instrument missing from instruments): each time in its stored offset, as
    # the Start and End columns show them; 23:30 on 03-01 and 05:40 on 03-02 are two days.
    assert (
        format_end(at("2025-03-01T23:30-05:00"), at("2025-03-02T05:40+00:00"), None)
        == "2025-03-02 05:40 UTC"
    )
    assert format_end(at("0001-01-01T09:00+00:00"), at("0001-01-01T10:00+00:00"), "UTC") == (
        "10:00 UTC"
    )
    # Sorted by end, every end keeps its date.
    assert (
        format_end(at("2025-03-01T09:00-05:00"), at("2025-03-01T12:58-05:00"), ny, with_date=True)
        == "2025-03-01 12:58 EST"
    )
