"""The Qt-free core of nexus-logger: models, engines and the ``session_handler`` API.

Everything here works from a script, the CLI or the GUI's database worker. No module here may
depend on PySide6 or on :mod:`nexus_logger.gui`; an import-linter contract in
``pyproject.toml`` enforces it.
"""

from typing import TYPE_CHECKING, Any

from nexus_logger.core.enums import EventType, RecordStatus

if TYPE_CHECKING:
    from nexus_logger.core.session_handler import (  # noqa: F401 (re-exported by __getattr__)
        Session,
        SessionLog,
        SessionsToBuild,
        db_query,
        get_all_session_logs,
        get_sessions_to_build,
    )

#: NexusLIMS's ``session_handler`` API: what this package re-exports from
#: :mod:`nexus_logger.core.session_handler`, which takes it as its ``__all__``.
NEXUSLIMS_API = (
    "Session",
    "SessionLog",
    "SessionsToBuild",
    "db_query",
    "get_all_session_logs",
    "get_sessions_to_build",
)


def __getattr__(name: str) -> Any:
    # The session_handler names are loaded on first use (PEP 562): importing any core module
    # must not import SQLAlchemy, which would take the window past its 0.5 s start-up budget.
    if name in NEXUSLIMS_API:
        from nexus_logger.core import session_handler

        return getattr(session_handler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EventType", "RecordStatus", *NEXUSLIMS_API]
