"""Python's cycle collector, paused while a process of nexus-logger starts (issue 19).

The collector runs after every few hundred new objects and then walks the objects that
survived so far. While some 430 modules import at launch (SQLAlchemy, Qt, the core), it walks
the same growing heap again and again; at exit, the interpreter collects once more over all of
them. Neither finds anything worth freeing: modules, classes and the window's widgets live as
long as the process. On the 2-CPU machine of docs/performance.md this was about 20 ms of a
session command's start, 50 ms of its exit, and 55 ms of the window's launch to START.

So the process entry (``cli.run``) pauses the collector, a long-running part resumes it once it
is past its start (the window after its START, the admin window once shown, ``bridge --watch``
before its loop), and a process freezes what it holds before it exits. Objects still free
themselves by reference counting all along; only cycles wait, and a short command makes few.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_paused = False


def pause() -> None:
    """Stop automatic collection until :func:`resume` (the process entry calls this first)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Collect automatically again, if :func:`pause` stopped it (else nothing: a host that
    turned the collector off itself keeps it off).

    Nothing is frozen here: the start's garbage cycles, such as the connections of a first try
    that met a locked database, must still be collected, or the shared file stays open for as
    long as the window runs.
    """
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def freeze_for_exit() -> None:
    """Spare the interpreter's last collection over everything: the process ends now.

    What is frozen is not finalized by the collector, only released by the operating system:
    what needs closing must be closed before (``cli.run`` disposes the database engines) or
    by an exit hook (the outbox's connections: ``weakref.finalize``; log handlers:
    ``logging.shutdown``). An sqlite3 connection in particular sits in a cycle with its
    statement cache, so dropping it does not close it.
    """
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection while a million objects are made (``get_sessions_to_build``).

    Collections come every few hundred new objects and walk the older ones again as they
    grow: at 1,000,000 sessions that was about a third of the time. The objects made there
    hold no reference cycles; reference counting frees them as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
