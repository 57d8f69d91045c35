"""Typed SQLAlchemy 2 tables of the NexusLIMS 2.8 schema, and the :class:`Instrument` row.

The tables reproduce, column by column, what NexusLIMS 2.8.0 (Alembic head ``v2_5_0b``)
creates, so that ``init-db`` makes a database NexusLIMS treats as its own and so that every
statement nexus-logger runs reads and writes a database NexusLIMS made.
``tests/test_schema.py`` compares a database created from these tables with
``shared/reference/nexuslims-2.8-schema.sql`` object by object.

They are Core :class:`~sqlalchemy.Table` objects, not ORM classes: every query in nexus-logger
is a Core statement, and importing and mapping the ORM cost about 0.1 s on every launch of the
window and of each command (issue 19) where no query needed it. Rows that code passes around
are typed values: :class:`Instrument` here; sessions in :mod:`nexus_logger.core.sessions`.

Timestamps are ``VARCHAR`` holding ISO-8601 text, exactly as NexusLIMS stores them; conversion
to aware ``datetime`` objects lives in :mod:`nexus_logger.core.timestamps`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from nexus_logger.core.enums import EventType

__all__ = [
    "ALEMBIC_HEAD",
    "Instrument",
    "alembic_version",
    "external_user_identifiers",
    "instruments",
    "metadata",
    "session_log",
    "upload_log",
]

#: The Alembic revision NexusLIMS 2.8.0 stamps on the databases it creates.
ALEMBIC_HEAD = "v2_5_0b"

#: NexusLIMS's own tables only (nexus-logger's tables: :mod:`logger_tables`).
metadata = MetaData()


def _in_list(column: str, values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _text(name: str, length: int | None = None) -> Column[str]:
    """A NOT NULL text column, as NexusLIMS's SQLModel classes declare most of them."""
    return Column(name, String(length) if length else String, nullable=False)


def _text_or_null(name: str, length: int | None = None) -> Column[str | None]:
    """A text column that may be NULL."""
    return Column(name, String(length) if length else String, nullable=True)


#: ``instruments``: the instruments NexusLIMS knows, each with its time zone.
instruments = Table(
    "instruments",
    metadata,
    Column("instrument_pid", String(100), primary_key=True),
    _text("api_url"),
    _text("calendar_url"),
    _text("location", 100),
    _text("display_name"),
    _text("property_tag", 20),
    _text("filestore_path"),
    _text("harvester"),
    _text("timezone"),
    UniqueConstraint("api_url"),
)

#: ``session_log``: START, END and RECORD_GENERATION events. ``timestamp``, ``event_type`` and
#: ``record_status`` hold text (compare them with the enums, which are ``str`` subclasses).
session_log = Table(
    "session_log",
    metadata,
    Column("id_session_log", Integer, primary_key=True, autoincrement=True),
    Column("session_identifier", String(36), nullable=False, index=True),
    Column("instrument", String(100), ForeignKey("instruments.instrument_pid"), nullable=False),
    _text("timestamp"),
    _text("event_type", 17),
    _text("record_status", 18),
    _text_or_null("user", 50),
    CheckConstraint(_in_list("event_type", [e.value for e in EventType]), name="check_event_type"),
    CheckConstraint(
        _in_list(
            "record_status",
            [
                "COMPLETED",
                "WAITING_FOR_END",
                "TO_BE_BUILT",
                "BUILT_NOT_EXPORTED",
                "ERROR",
                "NO_FILES_FOUND",
                "NO_CONSENT",
                "NO_RESERVATION",
            ],
        ),
        name="check_record_status",
    ),
)

#: ``upload_log``: NexusLIMS's record of exports; nexus-logger only creates it.
upload_log = Table(
    "upload_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_identifier", String(36), nullable=False, index=True),
    Column("destination_name", String(100), nullable=False, index=True),
    Column("success", Boolean(create_constraint=False), nullable=False),
    _text("timestamp"),
    _text_or_null("record_id", 255),
    _text_or_null("record_url", 500),
    _text_or_null("error_message"),
    _text_or_null("metadata_json"),
)

#: ``external_user_identifiers``: NexusLIMS's user mapping; nexus-logger only creates it.
external_user_identifiers = Table(
    "external_user_identifiers",
    metadata,
    Column("id", Integer, primary_key=True),
    _text("nexuslims_username"),
    _text("external_system"),
    _text("external_id"),
    _text_or_null("email"),
    _text("created_at"),
    _text_or_null("last_verified_at"),
    _text_or_null("notes"),
    CheckConstraint(
        _in_list("external_system", ["nemo", "labarchives_eln", "labarchives_scheduler", "cdcs"]),
        name="valid_external_system",
    ),
    UniqueConstraint(
        "nexuslims_username", "external_system", name="nexuslims_username_system_UNIQUE"
    ),
    UniqueConstraint("external_system", "external_id", name="system_external_id_UNIQUE"),
    Index("idx_external_lookup", "external_system", "external_id"),
    Index("idx_nexuslims_username", "nexuslims_username"),
)

#: ``alembic_version``: tells NexusLIMS's migrations which revision the database is at.
alembic_version = Table(
    "alembic_version",
    metadata,
    _text("version_num", 32),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


@dataclass(eq=False, kw_only=True)
class Instrument:
    """One row of ``instruments``: an instrument NexusLIMS knows, with its time zone.

    Compared by identity, as a row object is. :func:`~nexus_logger.core.db.schema.load_instruments`
    and :func:`~nexus_logger.core.db.instruments.add_instrument` fill every column (empty text
    for one a 1.x database lacks). A column left out of a hand-made one is ``None``, "not
    given": :class:`~nexus_logger.core.session_instrument.SessionInstrument` then uses what
    ``add_instrument`` would have stored (display name and files under the PID, harvester
    ``nemo``).
    """

    instrument_pid: str
    timezone: str
    display_name: str | None = None
    api_url: str | None = None
    calendar_url: str | None = None
    location: str | None = None
    property_tag: str | None = None
    filestore_path: str | None = None
    harvester: str | None = None

    @property
    def name(self) -> str:
        """NexusLIMS code refers to an instrument's PID as its ``name``."""
        return self.instrument_pid

    def __repr__(self) -> str:
        return f"Instrument({self.instrument_pid!r}, timezone={self.timezone!r})"
