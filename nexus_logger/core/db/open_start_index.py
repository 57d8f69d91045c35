"""PostgreSQL only: the partial index that lets the open-session check skip a session history.

NexusLIMS gives ``session_log`` one index, on ``session_identifier``, so proving that no session
is open on an instrument (``core/sessions/open_rule.py``) reads the whole table: about 55 ms at
100,000 sessions on the benchmark machine, and the instrument PCs' guard trigger reads it once
more for every START. On a PostgreSQL server, which NexusLIMS itself never opens (it reads its
SQLite file, fed by ``nexus-logger bridge``), ``init-db`` and the roles script of
``nexus-logger admin postgres-roles`` add this one index: on ``instrument``, over only the
STARTs that may still be open (each instrument's open session and the sessions NexusLIMS has
not built yet), so it stays small however long the history grows. The server keeps it right
in every transaction, so it is no second copy of the database's state: the check is the same
statement with or without it, only faster with it.

SQLite files are NexusLIMS's own (it creates and migrates them) and get nothing: there the
check reads the table, which is fast enough in-process (docs/performance.md).
"""

from __future__ import annotations

from nexus_logger.core.enums import EventType, RecordStatus

__all__ = ["ENDABLE", "NAME", "create_sql"]

#: START statuses after which an END may still be written: the normal WAITING_FOR_END, and
#: TO_BE_BUILT without END (a broken state that stops NexusLIMS's build run; ending repairs it).
ENDABLE = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

#: The index's name (logger-owned names start with ``nexus_logger_``).
NAME = "nexus_logger_open_start"


def create_sql(schema: str | None = None) -> str:
    """``CREATE INDEX IF NOT EXISTS`` for ``session_log`` (in ``schema``, a checked name).

    The predicate is the open-session check's own (START, a status in :data:`ENDABLE`), so
    the planner proves the check's rows are all in the index. Constants only: DDL takes no
    bound parameters, and nothing here comes from a user.
    """
    table = f'"{schema}".session_log' if schema else "session_log"
    statuses = ", ".join(f"'{status}'" for status in ENDABLE)
    return (
        f"CREATE INDEX IF NOT EXISTS {NAME} ON {table} (instrument) "
        f"WHERE record_status IN ({statuses}) AND event_type = '{EventType.START.value}'"
    )
