"""Named points where a test may kill the process, to prove that a crash there loses nothing.

Off unless the environment variable ``NEXUS_LOGGER_FAULT`` names a point: the process then kills
itself there at once, as ``kill -9`` would (no clean-up, no flush), so that the crash tests run
the real code in a real process. Nothing else ever reads the variable.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "point"]

ENV = "NEXUS_LOGGER_FAULT"


def point(name: str) -> None:
    """Die here, without any clean-up, when ``NEXUS_LOGGER_FAULT`` equals ``name``."""
    if os.environ.get(ENV) == name:
        kill = getattr(signal, "SIGKILL", None)
        if kill is not None:
            os.kill(os.getpid(), kill)
        os._exit(137)  # Windows: no SIGKILL; _exit skips every handler just the same
