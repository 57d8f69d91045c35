"""The Admin tab's timeline in a short page (150 % scaling, a small screen): it keeps its
height and the page scrolls, so the legend never covers the last instrument's band."""

from __future__ import annotations

from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QScrollArea

from nexus_logger.gui.admin.timeline import TimelineWidget
from nexus_logger.gui.admin.timeline_layout import legend_height


def test_the_legend_never_covers_the_last_band_in_a_short_page(qtbot) -> None:
    scroll = QScrollArea()  # as the Timeline page holds it
    scroll.setWidgetResizable(True)
    timeline = TimelineWidget()
    scroll.setWidget(timeline)
    qtbot.addWidget(scroll)
    timeline.set_instruments(["DEMO-FIB-03", "DEMO-SEM-02", "DEMO-TEM-01", "DEMO-XPS-04"])
    scroll.resize(900, 180)  # the room the page had at 150 % on a 1366 x 768 screen
    scroll.show()
    qtbot.waitExposed(scroll)
    QApplication.processEvents()
    legend_top = timeline.height() - legend_height(QFontMetrics(timeline.font()), timeline.width())
    last_band = timeline.band_rects[-1][1]
    assert last_band.bottom() <= legend_top, (timeline.height(), last_band, legend_top)
    assert scroll.verticalScrollBar().maximum() > 0  # the page scrolls instead


def test_on_the_days_clocks_change_a_bar_starts_at_the_tick_of_its_time() -> None:
    """The day the clocks go back is 25 h long and the day they go forward 23 h: placed by
    wall clock, a 12:00 session was drawn at 13:00 on the first and at 11:00 on the second."""
    from datetime import date

    from nexus_logger.core import timestamps
    from nexus_logger.gui.admin.timeline_layout import Zoom, calendar_window, ticks, x_of

    zone = timestamps.zone("America/New_York")
    for day, noon in [
        (date(2026, 11, 1), "2026-11-01T12:00:00-05:00"),
        (date(2026, 3, 8), "2026-03-08T12:00:00-04:00"),
        (date(2026, 11, 2), "2026-11-02T12:00:00-05:00"),
    ]:
        window = calendar_window(Zoom.DAY, day, zone)
        tick = {label: moment for moment, label in ticks(Zoom.DAY, window, zone)}["12:00"]
        start = timestamps.parse(noon, "America/New_York")
        assert abs(x_of(start, window, 1000) - x_of(tick, window, 1000)) < 0.01, day
    # ...and a session late on the 25-h day is not pushed against its end.
    window = calendar_window(Zoom.DAY, date(2026, 11, 1), zone)
    late = timestamps.parse("2026-11-01T23:00:00-05:00", "America/New_York")
    assert x_of(late, window, 1000) < x_of(window[1], window, 1000) - 30


def test_the_pcs_zone_keeps_its_rules_all_year(tmp_path) -> None:
    """A PC in New York draws July in EDT and January in EST (the offset of the launch
    moment, used before, was wrong for half the year). Run in a process of that zone."""
    import json
    import os
    import subprocess
    import sys

    probe = (
        "import json; from datetime import datetime\n"
        "from nexus_logger.gui.admin.timeline import pc_zone\n"
        "zone, name = pc_zone()\n"
        "print(json.dumps([name, *(str(datetime(2026, m, 5, 12, tzinfo=zone).utcoffset())"
        " for m in (1, 7))]))\n"
    )
    env = {**os.environ, "TZ": "America/New_York", "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    name, january, july = json.loads(out.stdout.splitlines()[-1])
    assert name == "America/New_York"
    assert (january, july) == ("-1 day, 19:00:00", "-1 day, 20:00:00")


def test_today_stays_today_when_the_timeline_takes_the_instruments_zone(qtbot) -> None:
    """Late evening in New York is already tomorrow on a PC in Kiritimati (UTC+14): the
    timeline of New York's instruments opens on New York's today, not the PC's."""
    from datetime import UTC, date, datetime

    from nexus_logger.core import timestamps
    from nexus_logger.gui.admin.timeline_layout import Zoom

    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    timeline.now = lambda: datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 22:00 on the 7th in NY
    timeline.set_zone(timestamps.zone("Pacific/Kiritimati"), "Pacific/Kiritimati")
    timeline.set_zoom(Zoom.DAY)
    timeline.go_now()
    assert timeline.window[0].date() == date(2026, 12, 8)
    timeline.set_zone(timestamps.zone("America/New_York"), "America/New_York")
    assert timeline.window[0].date() == date(2026, 12, 7)
    # A day the user chose is kept when the zone changes.
    timeline.step(-1)
    timeline.set_zone(timestamps.zone("Pacific/Kiritimati"), "Pacific/Kiritimati")
    assert timeline.window[0].date() == date(2026, 12, 6)


def test_a_cut_instrument_name_is_whole_in_its_tooltip(qtbot) -> None:
    """Band labels are cut to their column; the whole name is under the pointer."""
    from PySide6.QtCore import QPoint

    name = "FEI-Titan-STEM-630901_n-with-a-long-tail"
    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    timeline.set_instruments([name, "TEST-SEM-002"])
    timeline.resize(900, 300)
    timeline.show()
    qtbot.waitExposed(timeline)
    (rect,) = [r for n, r in timeline.band_rects if n == name]
    assert timeline.band_name_at(QPoint(20, int(rect.center().y()))) == name
    assert timeline.band_name_at(QPoint(400, int(rect.center().y()))) is None  # the bars' area
