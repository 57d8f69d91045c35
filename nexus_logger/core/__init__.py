"""The Qt-free core of nexus-logger: models, engines and the ``session_handler`` API.

Everything here works from a script, the CLI or the GUI's database worker. Nothing here may
import PySide6 or :mod:`nexus_logger.gui` (an import-linter contract in ``pyproject.toml``
enforces it).
"""

from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.session_handler import (
    Session,
    SessionLog,
    SessionsToBuild,
    db_query,
    get_all_session_logs,
    get_sessions_to_build,
)

__all__ = [
    "EventType",
    "RecordStatus",
    "Session",
    "SessionLog",
    "SessionsToBuild",
    "db_query",
    "get_all_session_logs",
    "get_sessions_to_build",
]
