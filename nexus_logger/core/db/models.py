"""SQLAlchemy 2 models of the NexusLIMS 2.8 tables.

The definitions reproduce, column by column, what NexusLIMS 2.8.0 (Alembic head ``v2_5_0b``)
creates, so that ``init-db`` makes a database NexusLIMS treats as its own and so that the ORM
can read and write a database NexusLIMS made. ``tests/test_schema.py`` compares a database
created from these models with ``shared/reference/nexuslims-2.8-schema.sql`` object by object.

Timestamps are ``VARCHAR`` holding ISO-8601 text, exactly as NexusLIMS stores them; conversion
to aware ``datetime`` objects lives in :mod:`nexus_logger.core.timestamps`.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nexus_logger.core.enums import EventType

#: The Alembic revision NexusLIMS 2.8.0 stamps on the databases it creates.
ALEMBIC_HEAD = "v2_5_0b"


def _in_list(column: str, values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base holding only NexusLIMS's own tables."""

    metadata = MetaData()


class Instrument(Base):
    """One row of ``instruments``: an instrument NexusLIMS knows, with its time zone."""

    __tablename__ = "instruments"
    __table_args__ = (UniqueConstraint("api_url"),)

    instrument_pid: Mapped[str] = mapped_column(String(100), primary_key=True)
    api_url: Mapped[str] = mapped_column(String)
    calendar_url: Mapped[str] = mapped_column(String)
    location: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String)
    property_tag: Mapped[str] = mapped_column(String(20))
    filestore_path: Mapped[str] = mapped_column(String)
    harvester: Mapped[str] = mapped_column(String)
    timezone: Mapped[str] = mapped_column(String)

    @property
    def name(self) -> str:
        """NexusLIMS code refers to an instrument's PID as its ``name``."""
        return self.instrument_pid

    def __repr__(self) -> str:
        return f"Instrument({self.instrument_pid!r}, timezone={self.timezone!r})"


class SessionLogEntry(Base):
    """One row of ``session_log``: a START, END or RECORD_GENERATION event.

    ``timestamp`` is the stored ISO-8601 text; ``event_type`` and ``record_status`` are the
    stored text too (compare them with the enums, which are ``str`` subclasses).
    """

    __tablename__ = "session_log"
    __table_args__ = (
        CheckConstraint(
            _in_list("event_type", [e.value for e in EventType]), name="check_event_type"
        ),
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

    id_session_log: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_identifier: Mapped[str] = mapped_column(String(36), index=True)
    instrument: Mapped[str] = mapped_column(String(100), ForeignKey("instruments.instrument_pid"))
    timestamp: Mapped[str] = mapped_column(String)
    event_type: Mapped[str] = mapped_column(String(17))
    record_status: Mapped[str] = mapped_column(String(18))
    user: Mapped[str | None] = mapped_column(String(50))

    def __repr__(self) -> str:
        return (
            f"SessionLogEntry(id={self.id_session_log}, {self.session_identifier}, "
            f"{self.event_type}, {self.record_status}, {self.timestamp}, user={self.user!r})"
        )


class UploadLog(Base):
    """``upload_log``: NexusLIMS's record of exports; nexus-logger only creates it."""

    __tablename__ = "upload_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_identifier: Mapped[str] = mapped_column(String(36), index=True)
    destination_name: Mapped[str] = mapped_column(String(100), index=True)
    success: Mapped[bool] = mapped_column(Boolean(create_constraint=False))
    timestamp: Mapped[str] = mapped_column(String)
    record_id: Mapped[str | None] = mapped_column(String(255))
    record_url: Mapped[str | None] = mapped_column(String(500))
    error_message: Mapped[str | None] = mapped_column(String)
    metadata_json: Mapped[str | None] = mapped_column(String)


class ExternalUserIdentifier(Base):
    """``external_user_identifiers``: NexusLIMS's user mapping; nexus-logger only creates it."""

    __tablename__ = "external_user_identifiers"
    __table_args__ = (
        CheckConstraint(
            _in_list(
                "external_system", ["nemo", "labarchives_eln", "labarchives_scheduler", "cdcs"]
            ),
            name="valid_external_system",
        ),
        UniqueConstraint(
            "nexuslims_username", "external_system", name="nexuslims_username_system_UNIQUE"
        ),
        UniqueConstraint("external_system", "external_id", name="system_external_id_UNIQUE"),
        Index("idx_external_lookup", "external_system", "external_id"),
        Index("idx_nexuslims_username", "nexuslims_username"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nexuslims_username: Mapped[str] = mapped_column(String)
    external_system: Mapped[str] = mapped_column(String)
    external_id: Mapped[str] = mapped_column(String)
    email: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[str] = mapped_column(String)
    last_verified_at: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str | None] = mapped_column(String)


class AlembicVersion(Base):
    """``alembic_version``: tells NexusLIMS's migrations which revision the database is at."""

    __tablename__ = "alembic_version"
    __table_args__ = (PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),)

    version_num: Mapped[str] = mapped_column(String(32))
