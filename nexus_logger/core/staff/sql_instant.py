"""``instant``: SQL for the moment a stored ISO-8601 text names, on SQLite and PostgreSQL.

Sorting or comparing the stored text orders times with different UTC offsets wrongly, so the
admin list, the problems scan and the overlap check sort and compare through this instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["instant"]


class instant(FunctionElement):
    """SQL for "the instant a stored ISO-8601 text names", as seconds since the epoch.

    Sorting and comparing by the text would order ``10:00-05:00`` before ``12:00+01:00`` (it
    is later), so both backends convert: SQLite's ``julianday`` understands UTC offsets (and
    gives NULL for garbage); PostgreSQL casts to ``timestamptz`` behind a shape check so that a
    malformed value gives NULL instead of failing the whole query. Naive text is read as UTC
    (SQLite) or in the server's time zone (PostgreSQL); the problems panel flags such rows.
    """

    type = Float()
    inherit_cache = True
    name = "nexus_instant"


@compiles(instant, "sqlite")
def _instant_sqlite(element: instant, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"((julianday({arg}) - 2440587.5) * 86400.0)"


_ISO_SHAPE = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?$"
)


@compiles(instant, "postgresql")
def _instant_postgres(element: instant, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    shape = _ISO_SHAPE.replace("%", "%%")
    return (
        f"(CASE WHEN ({arg}) ~ '{shape}' THEN EXTRACT(EPOCH FROM CAST({arg} AS TIMESTAMPTZ)) END)"
    )
