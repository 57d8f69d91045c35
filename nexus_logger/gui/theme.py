"""Sizes and colours of the window, chosen to be read from two metres away.

Sizes are in points, never pixels, so that Qt's high-DPI scaling keeps them the same physical
size on a 4K monitor and on an old 1280x1024 one. Colours carry meaning only together with a
word ("Running", "Waiting on this PC"), never alone.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

#: Point sizes of the text roles.
BASE_PT = 12
STATE_PT = 22
ELAPSED_PT = 48
DETAIL_PT = 14
BUTTON_PT = 18

GREEN = "#1e7b3c"
AMBER = "#9a5b00"
RED = "#b3261e"
BLUE = "#1d5a8c"
GREY = "#5f6368"


def font(point_size: float, *, bold: bool = False, fixed: bool = False) -> QFont:
    """A font of ``point_size``; ``fixed`` uses the system's fixed-width font (for clocks)."""
    base = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont) if fixed else QFont()
    base.setPointSizeF(point_size)
    base.setBold(bold)
    return base


def set_font(
    widget: QWidget, point_size: float, *, bold: bool = False, fixed: bool = False
) -> None:
    """Give ``widget`` a font of ``point_size`` points."""
    widget.setFont(font(point_size, bold=bold, fixed=fixed))


def color_text(widget: QWidget, color: str) -> None:
    """Colour the text of a label-like widget."""
    widget.setStyleSheet(f"color: {color};")


# The border is there, transparent, when the button has no focus: a focus frame drawn inside
# a button laid out without one would cut its text ("Start a new sessio").
END_BUTTON_STYLE = f"""
QPushButton {{
    background-color: {RED}; color: white; border: 3px solid transparent; border-radius: 8px;
    padding: 14px 28px;
}}
QPushButton:hover {{ background-color: #c9352b; }}
QPushButton:focus {{ border-color: #1a1a1a; }}
QPushButton:disabled {{ background-color: #c7c7c7; color: #4a4a4a; }}
"""

PRIMARY_BUTTON_STYLE = f"""
QPushButton {{
    background-color: {BLUE}; color: white; border: 3px solid transparent; border-radius: 6px;
    padding: 8px 18px;
}}
QPushButton:hover {{ background-color: #2a6aa3; }}
QPushButton:focus {{ border-color: #1a1a1a; }}
QPushButton:disabled {{ background-color: #c7c7c7; color: #4a4a4a; }}
"""


def label(
    parent: QWidget, content: str = "", point_size: float = DETAIL_PT, *, bold: bool = False
) -> QLabel:
    """A word-wrapped plain-text label in the given size."""
    widget = QLabel(content, parent)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    widget.setWordWrap(True)
    set_font(widget, point_size, bold=bold)
    return widget


def fit_answer(button: QPushButton, *, bold: bool) -> None:
    """A dialog's answer button: detail size, 44 px tall, and room for the padding and focus
    frame of the style sheet around its words; Enter presses it only if it is the default."""
    set_font(button, DETAIL_PT, bold=bold)
    button.setAutoDefault(False)
    button.setMinimumHeight(44)
    words = button.text().replace("&", "")
    button.setMinimumWidth(button.fontMetrics().horizontalAdvance(words) + 56)


def press_on_enter(*buttons: QPushButton) -> None:
    """Let Enter press these buttons when they have the focus, as Space does.

    Qt does that only for buttons in a dialog; in the main window a keyboard user who tabbed
    to *End session* pressed Enter and nothing happened. Outside a dialog this makes no
    button a default one: Enter in a text field still does only what the field does.
    """
    for button in buttons:
        button.setAutoDefault(True)


def row(*items: QWidget | int | None, indent: int = 0) -> QHBoxLayout:
    """Widgets side by side, ``indent`` pixels in from the left; ``None`` is the stretch that
    parts two groups of them, a number a gap of that many pixels."""
    layout = QHBoxLayout()
    if indent:
        layout.setContentsMargins(indent, 0, 0, 0)
    for item in items:
        if item is None:
            layout.addStretch(1)
        elif isinstance(item, int):
            layout.addSpacing(item)
        else:
            layout.addWidget(item)
    return layout
