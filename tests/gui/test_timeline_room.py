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
