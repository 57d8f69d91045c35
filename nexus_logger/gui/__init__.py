"""The Qt user interface: the only package that imports PySide6.

PySide6 6.12.0 is excluded in ``pyproject.toml``: its ``SignalInstance.emit()`` drops a
reference to ``True`` on every call, so a window that emits signals all day (the database
worker, the admin tab's live durations) eventually aborts CPython with "Fatal Python error:
bool_dealloc". ``tests/gui/test_signal_refcount.py`` fails on any PySide6 with that bug.
"""
