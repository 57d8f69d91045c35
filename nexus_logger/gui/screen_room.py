"""Room on the screen: a window's first size on a small or scaled screen, and pages that
scroll instead of clipping when the window is smaller than they are.

Old instrument PCs often run 1366 x 768 at 125 % or 150 % scaling: Qt sizes in logical
pixels, so a 760 x 640 window is 950 x 800 screen pixels at 125 %, taller than the screen,
with the End button below its edge.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFrame, QScrollArea, QVBoxLayout, QWidget

#: Left for the window frame and title bar (width, height), and for a taskbar beside it.
FRAME_ROOM = (40, 60)


def fitted_size(widget: QWidget, width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height``, or less when the screen ``widget`` is on has less room."""
    screen = widget.screen() or QApplication.primaryScreen()
    if screen is None:
        return width, height
    room = screen.availableGeometry()
    return min(width, room.width() - FRAME_ROOM[0]), min(height, room.height() - FRAME_ROOM[1])


class ScrollingPage(QScrollArea):
    """A page's scroll area that brings the widget given the focus into sight (a field
    focused by the program or by its Alt shortcut stayed below the fold, and typing went
    into a field nobody could see); not itself a stop of the Tab key."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._follow_focus)

    def bring_into_sight(self, widget: QWidget) -> None:
        """Scroll ``widget`` (a sentence just shown) into sight once the page is laid out: below
        the fold it was seen by nobody, and the keyboard cannot scroll a page that takes no
        focus."""
        QTimer.singleShot(0, self, lambda: self.ensureWidgetVisible(widget))

    def _follow_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        content = self.widget()
        if new is not None and content is not None and content.isAncestorOf(new):
            self.ensureWidgetVisible(new)
            if new.width() > self.viewport().width():  # wider than the view: its start
                self.horizontalScrollBar().setValue(new.mapTo(content, new.rect().topLeft()).x())


def scrolling_content(parent: QWidget, name: str) -> tuple[ScrollingPage, QVBoxLayout]:
    """A frameless, vertically scrolling area in ``parent`` and the layout of its content
    (margins 0): the page scrolls rather than squeezing its text when the window (or a
    large font) leaves it less room than it needs; with room enough no scroll bar shows."""
    scroll = ScrollingPage(parent)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    content = QWidget()
    content.setObjectName(name)
    content.setStyleSheet(f"#{name} {{ background: transparent; }}")
    scroll.viewport().setAutoFillBackground(False)
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 0, 0)
    scroll.setWidget(content)
    return scroll, layout
