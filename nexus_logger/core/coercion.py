"""NexusLIMS 2.x's own objects, turned into what the ``session_handler`` API stores.

Code written for NexusLIMS passes its own types where the API's reference page says ``str``:

* enum members (``nexusLIMS.db.enums.RecordStatus.ERROR``): a ``(str, Enum)`` whose ``str()``
  is ``'RecordStatus.ERROR'``, so only ``.value`` is the stored text. Any ``Enum`` works;
  :meth:`~nexus_logger.core.enums.RecordStatus.parse` validates the value;
* timezone-aware ``datetime`` objects for timestamps (stored as ``isoformat()``, as NexusLIMS
  stores them);
* NexusLIMS's ``Instrument`` (``timezone`` a pytz zone, ``timezone_str`` its name) where an
  instrument or its PID is expected: see :mod:`nexus_logger.core.session_instrument`.

These functions only change the *form* of a value; checking it stays in
:mod:`nexus_logger.core.validation` and the enums, so a value given either way is refused or
stored identically.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from nexus_logger.core.session_instrument import SessionInstrument

__all__ = ["bound_value", "enum_text", "instrument_pid", "session_instrument", "timestamp_text"]


def enum_text(value: object) -> object:
    """An enum member's value (``'ERROR'``); any other value unchanged."""
    return value.value if isinstance(value, Enum) else value


def timestamp_text(value: object) -> object:
    """A ``datetime`` as the ISO-8601 text NexusLIMS stores; any other value unchanged."""
    return value.isoformat() if isinstance(value, datetime) else value


def instrument_pid(value: object) -> object:
    """The PID of an instrument object (``instrument_pid`` or ``name``); text unchanged.

    Lets ``SessionLog(..., instrument=<NexusLIMS Instrument>, ...)`` store the PID, as the
    ``instrument`` column holds.
    """
    if isinstance(value, str) or value is None:
        return value
    for attr in ("instrument_pid", "name"):
        pid = getattr(value, attr, None)
        if isinstance(pid, str):
            return pid
    return value


def bound_value(value: object) -> object:
    """A ``db_query`` parameter as the column holds it: enum → value, datetime → ISO text.

    Without this, sqlite3 binds a datetime as ``'2025-01-06 08:06:34-05:00'`` (a space, not
    the ``T`` NexusLIMS writes) and psycopg as a ``timestamptz`` that cannot be compared with
    the text column; a foreign enum member may not bind at all.
    """
    return timestamp_text(enum_text(value))


def session_instrument(value: object) -> SessionInstrument:
    """Any instrument-like object as the :class:`SessionInstrument` a ``Session`` carries."""
    return SessionInstrument.of(value)
