"""Which NexusLIMS layout a database has, creating a new one, and reading its instruments.

nexus-logger never alters NexusLIMS's tables. It reflects what is there and adapts: the 2.x
layout (``instruments.display_name``, eight statuses) or the 1.x layout the original session
logger wrote to (``instruments.computer_name``, five statuses, naive local timestamps). The one
addition, on a PostgreSQL server only (which NexusLIMS never opens), is the partial index of
:mod:`~nexus_logger.core.db.open_start_index`, made by ``init-db`` there.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Column, Engine, MetaData, Table, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from nexus_logger.core.db import open_start_index
from nexus_logger.core.db.engine import (
    EngineLike,
    describe,
    engine_info,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.models import (
    ALEMBIC_HEAD,
    Instrument,
    alembic_version,
    metadata,
    session_log,
)
from nexus_logger.core.enums import LEGACY_STATUSES, RecordStatus
from nexus_logger.core.errors import (
    NO_TABLES,
    AccessDenied,
    DatabaseUnavailable,
    SchemaError,
    translate,
)

_logger = logging.getLogger(__name__)

#: Prefix of every table nexus-logger owns; NexusLIMS ignores tables it does not know.
LOGGER_TABLE_PREFIX = "nexus_logger_"

#: The columns NexusLIMS's ``session_log`` has, as :mod:`models` declares them.
_SESSION_LOG_COLUMNS = frozenset(session_log.columns.keys())
_INSTRUMENT_CORE = {"instrument_pid", "timezone"}


class Layout(StrEnum):
    """The database layouts nexus-logger recognises."""

    NEXUSLIMS_2 = "NexusLIMS 2.x"
    LEGACY_1 = "NexusLIMS 1.x (legacy)"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SchemaInfo:
    """What reflection found in a database."""

    layout: Layout
    tables: frozenset[str]
    instrument_columns: tuple[str, ...] = ()
    alembic_version: str | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        """True when sessions can be read and written."""
        return self.layout in (Layout.NEXUSLIMS_2, Layout.LEGACY_1)

    @property
    def has_computer_name(self) -> bool:
        """The 1.x ``instruments.computer_name`` column mapping PCs to instruments exists."""
        return "computer_name" in self.instrument_columns

    @property
    def allowed_statuses(self) -> frozenset[RecordStatus]:
        """Statuses the ``record_status`` CHECK constraint accepts in this layout."""
        if self.layout is Layout.LEGACY_1:
            return LEGACY_STATUSES
        return frozenset(RecordStatus)


def inspect_schema(target: EngineLike = None, *, refresh: bool = False) -> SchemaInfo:
    """Reflect the database and classify its layout (cached on the engine)."""
    engine = get_engine(target)
    cached = engine_info(engine).get("nexus_schema")
    if cached is not None and not refresh:
        return cached
    try:
        with read_connection(engine) as conn:
            insp = inspect(conn)
            tables = frozenset(insp.get_table_names())
            inst_cols: tuple[str, ...] = ()
            problems: list[str] = []
            version = None
            if "instruments" in tables:
                inst_cols = tuple(c["name"] for c in insp.get_columns("instruments"))
            if "session_log" in tables:
                log_cols = {c["name"] for c in insp.get_columns("session_log")}
                missing = _SESSION_LOG_COLUMNS - log_cols
                if missing:
                    problems.append(f"session_log lacks column(s) {', '.join(sorted(missing))}")
            if "alembic_version" in tables:
                row = conn.execute(select(alembic_version.c.version_num)).first()
                version = row[0] if row else None
    except SQLAlchemyError as err:
        raise translate(err, describe(engine)) from err
    nexus_tables = {t for t in tables if not t.startswith(LOGGER_TABLE_PREFIX)}
    if not nexus_tables:
        layout = Layout.EMPTY
    elif "session_log" not in tables or "instruments" not in tables:
        layout = Layout.UNKNOWN
        problems.append("the tables session_log and instruments are not both present")
    elif problems or not _INSTRUMENT_CORE <= set(inst_cols):
        layout = Layout.UNKNOWN
        if not _INSTRUMENT_CORE <= set(inst_cols):
            problems.append("instruments lacks instrument_pid or timezone")
    elif "computer_name" in inst_cols:
        layout = Layout.LEGACY_1
    else:
        layout = Layout.NEXUSLIMS_2
    info = SchemaInfo(layout, tables, inst_cols, version, tuple(problems))
    engine_info(engine)["nexus_schema"] = info
    return info


def require_usable(target: EngineLike = None) -> SchemaInfo:
    """Return the schema info, or raise :class:`SchemaError` explaining what is missing."""
    engine = get_engine(target)
    info = inspect_schema(engine)
    if info.usable:
        return info
    where = describe(engine)
    if info.layout is Layout.EMPTY:
        raise SchemaError(NO_TABLES.format(where=where))
    detail = "; ".join(info.problems) or "its tables are not the NexusLIMS ones"
    raise SchemaError(
        f"The database {where} is not a NexusLIMS database nexus-logger understands ({detail}). "
        "Check the database setting."
    )


def init_db(target: str | os.PathLike[str] | Engine) -> tuple[bool, str]:
    """Create the NexusLIMS 2.8 schema in a new database; leave an existing one's tables as they are.

    On PostgreSQL also the open-session check's partial index (:mod:`open_start_index`), which
    an existing PostgreSQL database gets too if it lacks it (when the account may, and the
    server is not read-only).

    Returns ``(created, message)``.
    """
    engine = target if isinstance(target, Engine) else get_engine(target, create=True)
    where = describe(engine)
    info = inspect_schema(engine, refresh=True)
    if info.usable:
        added, why_not = _add_open_start_index(engine)
        held = f"{where} already holds a {info.layout} database"
        if added:
            return False, (
                f"{held}; its tables were left as they are, and the open-session check's index "
                f"{open_start_index.NAME} was added."
            )
        if why_not:
            return False, (
                f"{held}; nothing was changed. Its open-session check has no index "
                f"({open_start_index.NAME}) and it was not added: {why_not}."
            )
        return False, f"{held}; nothing was changed."
    if info.layout is Layout.UNKNOWN:
        raise SchemaError(
            f"{where} already has tables that are not a NexusLIMS database "
            f"({'; '.join(info.problems)}); nothing was changed. Choose a new file or database."
        )
    with write_transaction(engine) as conn:
        metadata.create_all(conn)
        conn.execute(insert(alembic_version).values(version_num=ALEMBIC_HEAD))
        if conn.dialect.name == "postgresql":  # a server NexusLIMS never opens (see module)
            conn.execute(text(open_start_index.create_sql()))
    engine_info(engine).pop("nexus_schema", None)
    _logger.info("Created NexusLIMS 2.8 schema in %s", where)
    return True, f"Created a NexusLIMS 2.8 database (revision {ALEMBIC_HEAD}) in {where}."


def _add_open_start_index(engine: Engine) -> tuple[bool, str | None]:
    """PostgreSQL: create the open-session check's index where it is missing.

    For servers set up before ``init-db`` made it (and without the roles script, which makes it
    too). Returns (made now, why it could not be made: ``None`` when it is there or this is not
    a PostgreSQL database). When it could not be made, nothing was changed.
    """
    if engine.dialect.name != "postgresql":
        return False, None
    state = text(
        "SELECT to_regclass(:name) IS NOT NULL, "
        "current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery()"
    )
    try:
        with write_transaction(engine) as conn:
            found, read_only = conn.execute(state, {"name": open_start_index.NAME}).one()
            if found:
                return False, None
            if read_only:
                return False, "this server takes no changes (read-only or a standby)"
            # CREATE INDEX waits for every open writer and holds new ones behind it: a short
            # wait only, so that no START on an instrument PC waits for this.
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            conn.execute(text(open_start_index.create_sql()))
    except AccessDenied:
        return False, "this account may not create it; run init-db as the tables' owner"
    except DatabaseUnavailable:
        return False, "sessions were being written at that moment; run init-db again later"
    _logger.info("Added %s to %s", open_start_index.NAME, describe(engine))
    return True, None


def _instruments_table(engine: Engine, info: SchemaInfo) -> Table:
    """The ``instruments`` table with the columns :func:`inspect_schema` found (either layout).

    Built from those names, not reflected a second time: on PostgreSQL a full reflection is
    several catalog queries, for columns whose values are read as the driver gives them.
    """
    key = "nexus_instruments_table"
    table = engine_info(engine).get(key)
    if table is None:
        columns = (Column(name) for name in info.instrument_columns)
        table = engine_info(engine)[key] = Table("instruments", MetaData(), *columns)
    return table


def load_instruments(target: EngineLike = None) -> dict[str, Instrument]:
    """All instruments, by PID, as :class:`Instrument` objects in either layout.

    In the 1.x layout, ``display_name`` is taken from ``schema_name`` (the name 1.x showed).
    """
    engine = get_engine(target)
    info = require_usable(engine)
    table = _instruments_table(engine, info)
    with read_connection(engine) as conn:
        rows = conn.execute(select(table).order_by(table.c.instrument_pid)).mappings().all()
    result: dict[str, Instrument] = {}
    for row in rows:
        display = row.get("display_name") or row.get("schema_name") or row["instrument_pid"]
        result[row["instrument_pid"]] = Instrument(
            instrument_pid=row["instrument_pid"],
            api_url=row.get("api_url") or "",
            calendar_url=row.get("calendar_url") or "",
            location=row.get("location") or "",
            display_name=display,
            property_tag=row.get("property_tag") or "",
            filestore_path=row.get("filestore_path") or "",
            harvester=row.get("harvester") or "",
            timezone=row.get("timezone") or "UTC",
        )
    return result


def legacy_computer_names(target: EngineLike = None) -> dict[str, str]:
    """``computer_name -> instrument_pid`` from a 1.x ``instruments`` table (empty in 2.x)."""
    engine = get_engine(target)
    info = require_usable(engine)
    if not info.has_computer_name:
        return {}
    table = _instruments_table(engine, info)
    with read_connection(engine) as conn:
        rows = conn.execute(
            select(table.c.computer_name, table.c.instrument_pid).where(
                table.c.computer_name.is_not(None)
            )
        ).all()
    return {str(name): str(pid) for name, pid in rows if name}
