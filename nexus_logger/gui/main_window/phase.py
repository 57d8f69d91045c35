"""Where the window is in a session's life; every part of the window reads it."""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    """Where the window is in a session's life."""

    STARTING = "starting"
    FAILED = "failed"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"
