"""Does every piece of text fit its widget? (Used by test_fit.py, also under 125 % scaling.)

Measured the way Qt itself lays text out: the font metrics of the widget's own font against
the width (or, for word-wrapped labels, the height) the layout gave it. A widget that is not
visible in its window is skipped; so is anything scrolled out of a view.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTabBar,
    QWidget,
)

#: Room a combo box needs besides its text (frame and drop-down arrow), in pixels.
_COMBO_CHROME = 30
#: Room a line edit needs besides its placeholder (frame, margins, clear button).
_EDIT_CHROME = 12


def _plain(text: str) -> str:
    text = re.sub(r"<[^>]+>", "", text).replace("&nbsp;", " ")
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _shown(widget: QWidget) -> bool:
    window = QWidget.window(widget)
    return widget.isVisibleTo(window) and widget.width() > 0 and widget.height() > 0


def _visible_in_ancestors(widget: QWidget) -> bool:
    """False when a scroll area or view clips the widget away entirely."""
    window = QWidget.window(widget)
    if widget is window:
        return True
    rect = QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        area = QRect(parent.mapTo(window, parent.rect().topLeft()), parent.size())
        if not area.intersects(rect):
            return False
        parent = parent.parentWidget()
    return True


def _name(widget: QWidget) -> str:
    return f"{type(widget).__name__}({widget.objectName() or ''})"


def _label_problem(label: QLabel) -> str | None:
    text = _plain(label.text())
    if not text.strip():
        return None
    fm = label.fontMetrics()
    room = label.contentsRect().width() - 2 * label.margin() - label.indent() * (label.indent() > 0)
    if label.wordWrap():
        needed = label.heightForWidth(label.width())
        if needed > label.height() + 1:
            return f"label {text[:60]!r} needs {needed} px of height, has {label.height()}"
        # Qt breaks lines at blanks and after hyphens ("FEI-Titan-" / "TEM-635816").
        words = re.split(r"\s+|(?<=-)", text)
        longest = max((fm.horizontalAdvance(w) for w in words), default=0)
        if longest > room + 1:
            return f"label word in {text[:60]!r} is {longest} px wide, room {room}"
        return None
    needed = max(fm.horizontalAdvance(line) for line in text.splitlines())
    if needed > room + 1:
        return f"label {text[:60]!r} needs {needed} px, has {room}"
    lines = len(text.splitlines())
    if fm.height() * lines > label.contentsRect().height() + 2:
        return f"label {text[:60]!r} needs {fm.height() * lines} px of height"
    return None


def problems_in(root: QWidget) -> list[str]:
    """One line per widget of ``root`` whose text is elided or clipped."""
    found: list[str] = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not _shown(widget) or not _visible_in_ancestors(widget):
            continue
        problem: str | None = None
        if isinstance(widget, QLabel):
            problem = _label_problem(widget)
        elif isinstance(widget, QAbstractButton):
            text = _plain(widget.text())
            hint = widget.sizeHint()
            if text and (hint.width() > widget.width() + 1 or hint.height() > widget.height() + 1):
                problem = (
                    f"button {text!r} needs {hint.width()}x{hint.height()}, "
                    f"has {widget.width()}x{widget.height()}"
                )
        elif isinstance(widget, QTabBar):
            for i in range(widget.count()):
                if not widget.isTabVisible(i):
                    continue
                need, have = widget.tabSizeHint(i).width(), widget.tabRect(i).width()
                if need > have + 1:
                    problem = f"tab {widget.tabText(i)!r} needs {need} px, has {have}"
        elif isinstance(widget, QHeaderView):
            model = widget.model()
            for i in range(widget.count()):
                if widget.isSectionHidden(i) or model is None:
                    continue
                if widget.sectionViewportPosition(i) >= widget.viewport().width():
                    continue  # scrolled out of view; not elided
                need, have = widget.sectionSizeHint(i), widget.sectionSize(i)
                if widget.orientation().name == "Horizontal" and need > have + 1:
                    title = model.headerData(i, widget.orientation())
                    problem = f"header {title!r} needs {need} px, has {have}"
        elif isinstance(widget, QComboBox):
            text = widget.currentText()
            need = widget.fontMetrics().horizontalAdvance(text) + _COMBO_CHROME
            if text and need > widget.width() + 1:
                problem = f"combo box {text!r} needs {need} px, has {widget.width()}"
        elif isinstance(widget, QAbstractSpinBox):
            hint = widget.sizeHint()
            if hint.width() > widget.width() + 1:
                problem = f"{_name(widget)} {widget.text()!r} needs {hint.width()} px, has {widget.width()}"
        elif isinstance(widget, QLineEdit) and not widget.text():
            text = widget.placeholderText()
            need = widget.fontMetrics().horizontalAdvance(text) + _EDIT_CHROME
            if text and need > widget.width() + 1:
                problem = f"placeholder {text!r} needs {need} px, has {widget.width()}"
        elif isinstance(widget, QProgressBar) and widget.isTextVisible():
            text = widget.text()
            need = widget.fontMetrics().horizontalAdvance(text)
            if need > widget.width():
                problem = f"progress text {text!r} needs {need} px"
        if problem:
            found.append(f"{_name(widget)} in {_name(QWidget.window(widget))}: {problem}")
    return found
