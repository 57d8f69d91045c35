"""Run in NexusLIMS's environment: every public function of nexus-logger's API, two ways.

``sys.argv[1]`` is worked on with NexusLIMS's own objects (its ``RecordStatus`` and
``EventType`` members, its ``Instrument`` from ``nexusLIMS.instruments.instrument_db``, aware
``datetime`` objects for timestamps); ``sys.argv[2]``, a copy of the same database, with
nexus-logger's plain forms (text, its own ``Instrument`` rows, ISO-8601 text). Prints one JSON
line ``{"nexuslims": ..., "plain": ..., "reference": ...}``: the test compares the first two and
checks both against ``reference``, what NexusLIMS's own ``Instrument`` answers.
"""

import json
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from nexusLIMS.db.enums import EventType, ExternalSystem, RecordStatus
from nexusLIMS.instruments import _ensure_instrument_db_loaded, instrument_db

from nexus_logger.core import session_handler as api
from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.errors import NexusLoggerError

PID = "NX-TEST-INSTR-002"  # America/Denver
IDENT = "7d1b6e0c-3f7a-4d8e-b1f4-0c2d9e5a6b7c"
START = datetime(2025, 2, 3, 9, 15, tzinfo=ZoneInfo("America/Denver"))
END = START + timedelta(minutes=50)
#: Ordinary, repeated (clocks go back) and skipped (clocks go forward) local times in Denver.
NAIVE = [datetime(2025, 2, 3, 9, 15), datetime(2025, 11, 2, 1, 30), datetime(2025, 3, 9, 2, 30)]
MTIME = START.timestamp() + 600

_ensure_instrument_db_loaded()


class NexusLIMSForms:
    status = staticmethod(lambda name: RecordStatus[name])
    event = staticmethod(lambda name: EventType[name])
    stamp = staticmethod(lambda value: value)
    log_instrument = staticmethod(lambda pid: instrument_db[pid])
    bad_status = ExternalSystem.NEMO
    zone = staticmethod(lambda pid: instrument_db[pid].timezone)  # a pytz zone

    @staticmethod
    def instrument(pid, db):
        return instrument_db[pid]


class PlainForms:
    status = staticmethod(lambda name: name)
    event = staticmethod(lambda name: name)
    stamp = staticmethod(lambda value: value.isoformat())
    log_instrument = staticmethod(lambda pid: pid)
    bad_status = "nemo"
    zone = staticmethod(lambda pid: "America/Denver")

    @staticmethod
    def instrument(pid, db):
        return load_instruments(db)[pid]


def _error(call):
    try:
        call()
    except (NexusLoggerError, ValueError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def _rows(db):
    ok, rows = api.db_query(
        'SELECT event_type, record_status, "user", instrument FROM session_log '
        "WHERE session_identifier = ? ORDER BY id_session_log",
        (IDENT,),
        engine=db,
    )
    return [ok, [list(r) for r in rows]]


def exercise(db, forms):
    out = {}
    logs = [
        api.SessionLog(
            IDENT,
            forms.log_instrument(PID),
            forms.stamp(when),
            forms.event(event),
            "grace",
            forms.status("TO_BE_BUILT"),
        )
        for event, when in (("START", START), ("END", END))
    ]
    out["log_attributes"] = [
        [
            type(v).__name__ + ":" + str(v)
            for v in (
                log.session_identifier,
                log.instrument,
                log.timestamp,
                log.event_type,
                log.user,
                log.record_status,
            )
        ]
        for log in logs
    ]
    out["log_reprs"] = [repr(log) for log in logs]
    summer = api.SessionLog(IDENT, PID, "2025-07-01T09:15:00", "START", "grace")
    out["naive_read_in_zone"] = summer.datetime(forms.zone(PID)).isoformat()
    repeated = api.SessionLog(IDENT, PID, NAIVE[1].isoformat(), "START", "grace")
    out["naive_repeated_read_in_zone"] = repeated.datetime(forms.zone(PID)).isoformat()
    out["default_status"] = api.SessionLog(
        IDENT, PID, forms.stamp(START), forms.event("START"), "grace"
    ).record_status
    out["inserted"] = [log.insert_log(engine=db) for log in logs]
    out["inserted_again"] = api.SessionLog(
        IDENT,
        forms.log_instrument(PID),
        forms.stamp(START),
        forms.event("START"),
        "grace",
        forms.status("TO_BE_BUILT"),
    ).insert_log(engine=db)
    out["refused_log"] = _error(
        lambda: api.SessionLog(
            IDENT, PID, forms.stamp(START), forms.event("START"), "grace", forms.bad_status
        ).insert_log(engine=db)
    )
    out["to_build"] = sorted(
        [
            s.session_identifier,
            s.instrument.instrument_pid,
            s.user,
            s.dt_from.isoformat(),
            s.dt_to.isoformat(),
            s.instrument.timezone_str,
        ]
        for s in api.get_sessions_to_build(engine=db)
    )

    session = api.Session(IDENT, forms.instrument(PID, db), (START, END), "grace", engine=db)
    inst = session.instrument
    out["session"] = {
        "repr": repr(session),
        "instrument": inst.to_dict(),
        "name": inst.name,
        "str": str(inst),
        "timezone_str": inst.timezone_str,
        "localized": [inst.localize_datetime(n).isoformat() for n in NAIVE],
        "pytz_localize": [inst.timezone.localize(n).isoformat() for n in NAIVE],
        "localized_aware": inst.localize_datetime(START.astimezone(ZoneInfo("UTC"))).isoformat(),
        "localized_str": inst.localize_datetime_str(NAIVE[0]),
        "mtime": datetime.fromtimestamp(MTIME, tz=inst.timezone).isoformat(),
    }
    event = session.insert_record_generation_event()
    now_offset = datetime.now(ZoneInfo("America/Denver")).utcoffset()
    out["record_generation"] = {
        k: v for k, v in event.items() if k not in ("id_session_log", "timestamp")
    }
    out["record_generation_in_zone"] = (
        datetime.fromisoformat(event["timestamp"]).utcoffset() == now_offset
    )
    out["query_positional"] = api.db_query(
        "SELECT COUNT(*) FROM session_log WHERE session_identifier = ? AND event_type = ? "
        "AND record_status = ? AND timestamp = ?",
        (IDENT, forms.event("START"), forms.status("TO_BE_BUILT"), forms.stamp(START)),
        engine=db,
    )
    out["query_named"] = api.db_query(
        "SELECT COUNT(*) FROM session_log WHERE event_type = :event AND timestamp = :ts",
        {"event": forms.event("END"), "ts": forms.stamp(END)},
        engine=db,
    )
    out["refused_status"] = _error(lambda: session.update_session_status(forms.bad_status))
    out["updated"] = session.update_session_status(forms.status("ERROR"))
    out["rows"] = _rows(db)
    out["to_build_after"] = len(api.get_sessions_to_build(engine=db))
    out["all_logs"] = [
        repr(log)
        for log in api.get_all_session_logs(engine=db)
        if log.event_type != "RECORD_GENERATION" or log.session_identifier != IDENT
    ]
    return out


reference_instrument = instrument_db[PID]
reference = {
    "localized": [reference_instrument.localize_datetime(n).isoformat() for n in NAIVE],
    "localized_aware": reference_instrument.localize_datetime(START).isoformat(),
    "localized_str": reference_instrument.localize_datetime_str(NAIVE[0]),
    "mtime": datetime.fromtimestamp(MTIME, tz=reference_instrument.timezone).isoformat(),
    "instrument": reference_instrument.to_dict(),
    "name": reference_instrument.name,
    "str": str(reference_instrument),
    "timezone_str": reference_instrument.timezone_str,
}
print(
    json.dumps(
        {
            "nexuslims": exercise(sys.argv[1], NexusLIMSForms),
            "plain": exercise(sys.argv[2], PlainForms),
            "reference": reference,
        }
    )
)
