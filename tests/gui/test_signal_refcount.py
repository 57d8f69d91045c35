"""Emitting signals from Python must not eat references to ``True``.

PySide6 6.12.0 removed one reference from ``True`` per ``emit()``; the admin tab repaints live
durations every second and the database worker emits three signals per job, so a window left
open for hours crashed CPython with "Fatal Python error: bool_dealloc". That release is excluded
in pyproject.toml; this test fails on any installed PySide6 with the same bug.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from nexus_logger.gui.admin.session_model import SessionTableModel


class _Emitter(QObject):
    number = Signal(int)
    flag = Signal(bool)
    nothing = Signal()


def test_emit_keeps_references_to_true(qtbot) -> None:
    emitter = _Emitter()
    received: list[object] = []
    emitter.number.connect(received.append)
    model = SessionTableModel()
    before = sys.getrefcount(True)
    for i in range(3000):
        emitter.number.emit(i)
        emitter.flag.emit(i % 2 == 0)
        emitter.nothing.emit()
        model.loading_changed.emit(False)
    # The 3000 received ints hold no reference to True; allow for a few unrelated ones.
    assert abs(sys.getrefcount(True) - before) < 50
    assert len(received) == 3000
