"""The Qt user interface: the only package that imports PySide6.

Importing it also works around a PySide6 bug (seen in 6.12.0): ``SignalInstance.emit()``
returns ``True`` without taking a reference to it, so every signal emitted from Python
removes one reference from ``True``. A GUI that emits signals all day (the database worker
emits three per job, the admin tab repaints live durations every second) would drive that
count to zero, and CPython then aborts with "Fatal Python error: bool_dealloc". The check
below emits a few signals on a private object; only when ``True`` lost references does it
give them back and wrap ``emit`` to add the missing reference, so a fixed PySide6 is left
alone.
"""

from __future__ import annotations


def _repair_emit_refcount() -> bool:
    """Install the ``emit`` workaround if this PySide6 needs it; returns True if installed."""
    import ctypes
    import sys

    from PySide6.QtCore import QObject, Signal, SignalInstance

    if getattr(SignalInstance.emit, "_nexus_refcount_fix", False):
        return True

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    rounds = 16
    before = sys.getrefcount(True)
    for _ in range(rounds):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost <= 0:
        return False
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None
    for _ in range(lost):
        incref(True)
    per_emit = max(1, round(lost / rounds))
    original = SignalInstance.emit

    def emit(self: SignalInstance, *args: object) -> object:
        result = original(self, *args)
        if result is True:
            for _ in range(per_emit):
                incref(result)
        return result

    emit._nexus_refcount_fix = True  # type: ignore[attr-defined]
    SignalInstance.emit = emit  # type: ignore[method-assign]
    return True


_repair_emit_refcount()
