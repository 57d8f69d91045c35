"""The timeline's painting: bands with their labels, the axis with its grid and "now", the
bars and the legend, each drawn where ``timeline_layout`` put it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QPainter, QPen

from nexus_logger.gui.admin.models import status_color
from nexus_logger.gui.admin.timeline_layout import (
    AXIS_HEIGHT,
    LABEL_WIDTH,
    Bar,
    legend_height,
    legend_items,
    ticks,
    x_of,
)

if TYPE_CHECKING:
    from nexus_logger.gui.admin.timeline import TimelineWidget


def paint_timeline(p: QPainter, view: TimelineWidget) -> None:
    """The whole picture of ``view``, as laid out for its current size."""
    palette = view.palette()
    p.fillRect(view.rect(), palette.base())
    fm = QFontMetrics(view.font())
    text_pen = QPen(palette.text().color())
    _paint_bands(p, view.band_rects, fm, text_pen)
    bottom = view.height() - legend_height(fm, view.width())
    _paint_axis(p, view, fm, text_pen, bottom)
    _paint_bars(p, view.bars)
    current = view.current_bar()
    if current is not None and view.hasFocus():
        p.setPen(QPen(palette.highlight().color(), 2, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(current.rect.adjusted(-3, -3, 3, 3))
    for (x, y), status, hex_color in legend_items(fm, view.width(), bottom):
        p.fillRect(x, y + 6, 10, 10, QColor(hex_color))
        p.setPen(text_pen)
        p.drawText(x + 14, y + 16, status)


def _paint_bands(
    p: QPainter, bands: list[tuple[str, QRectF]], fm: QFontMetrics, text_pen: QPen
) -> None:
    """Every other band shaded, each labelled with its instrument (cut with an ellipsis)."""
    for i, (name, rect) in enumerate(bands):
        if i % 2:
            p.fillRect(rect, QColor(0, 0, 0, 12))
        p.setPen(text_pen)
        label = fm.elidedText(name, Qt.TextElideMode.ElideRight, LABEL_WIDTH - 12)
        p.drawText(
            QRectF(6, rect.top(), LABEL_WIDTH - 8, rect.height()),
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
            label,
        )


def _paint_axis(
    p: QPainter, view: TimelineWidget, fm: QFontMetrics, text_pen: QPen, bottom: int
) -> None:
    """Ticks with their labels and grid lines, the zone of the axis' times (where the band
    labels start) and a dashed line at "now" when it is in the window."""
    window, width = view.window, view.width()
    p.setPen(text_pen)
    zone = fm.elidedText(view.zone_short, Qt.TextElideMode.ElideMiddle, LABEL_WIDTH - 12)
    p.drawText(6, AXIS_HEIGHT - 10, zone)
    grid_pen = QPen(QColor(0, 0, 0, 40))
    for moment, label in ticks(view.zoom, window, view.local_zone):
        x = x_of(moment, window, width)
        p.setPen(grid_pen)
        p.drawLine(int(x), AXIS_HEIGHT - 4, int(x), bottom)
        p.setPen(text_pen)
        p.drawText(int(x) + 3, AXIS_HEIGHT - 10, label)
    now: datetime = view.now()
    now_x = x_of(now, window, width)
    start, end = window
    if start <= now <= end:
        p.setPen(QPen(QColor("#b3261e"), 1, Qt.PenStyle.DashLine))
        p.drawLine(int(now_x), AXIS_HEIGHT - 4, int(now_x), bottom)


def _paint_bars(p: QPainter, bars: list[Bar]) -> None:
    """Each bar in its status' colour; an open session ends in a hatched tip, one that
    overlaps another is outlined."""
    for bar in bars:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(status_color(bar.summary.status)))
        p.drawRect(bar.rect)
        if bar.summary.is_open:
            tip = QRectF(
                bar.rect.right() - min(12.0, bar.rect.width()),
                bar.rect.top(),
                min(12.0, bar.rect.width()),
                bar.rect.height(),
            )
            p.setBrush(QBrush(QColor("white"), Qt.BrushStyle.BDiagPattern))
            p.drawRect(tip)
        if bar.overlaps:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor("#1a1a1a"), 2))
            p.drawRect(bar.rect)
