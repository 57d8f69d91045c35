"""Make the screenshots of the window's states in docs/screenshots/ (Qt offscreen, no display).

    python docs/make_screenshots.py [OUTPUT_FOLDER]

The pages are filled with fixed example data, so the pictures only change when the window's
look changes: the window's pages touch no database, and the Admin tab reads a small SQLite
database made here with fixed sessions. The clock is set to the instrument's zone, as on an
instrument PC.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ZONE = "America/New_York"
os.environ["TZ"] = ZONE
if hasattr(time, "tzset"):
    time.tzset()
os.environ.setdefault("NEXUS_LOGGER_HOME", tempfile.mkdtemp(prefix="nexus-logger-shots-"))
os.environ.setdefault("NEXUS_LOGGER_MACHINE_DIR", tempfile.mkdtemp(prefix="nexus-logger-shots-pc-"))

from PySide6.QtCore import QDate, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from nexus_logger.core.db.models import Instrument  # noqa: E402
from nexus_logger.core.sessions.lifecycle import OpenSession  # noqa: E402
from nexus_logger.core.settings.config import load_settings  # noqa: E402
from nexus_logger.gui.dialogs import CloseDialog, ResumeDialog  # noqa: E402
from nexus_logger.gui.log_window import LogWindow  # noqa: E402
from nexus_logger.gui.main_window import MainWindow, Phase  # noqa: E402
from nexus_logger.gui.pages import Step, StepState  # noqa: E402
from nexus_logger.gui.worker import DbWorker  # noqa: E402

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "screenshots"
TZ = ZoneInfo(ZONE)
NOW = datetime(2026, 3, 10, 14, 30, 12, tzinfo=TZ)
INSTRUMENT = Instrument(
    instrument_pid="FEI-Titan-TEM-635816",
    display_name="FEI Titan TEM",
    timezone=ZONE,
    location="Building 217, room B113",
)
SESSION = OpenSession(
    session_identifier="5d0f4e0c-8a43-4b0e-9f57-2f3b7c1d9a10",
    instrument=INSTRUMENT,
    user="jsmith",
    started=NOW - timedelta(hours=1, minutes=23, seconds=45),
    start_text=(NOW - timedelta(hours=1, minutes=23, seconds=45)).isoformat(),
    note="EELS maps of sample 7b",
)
OLD_SESSION = OpenSession(
    session_identifier="0b7c5a52-2f0e-4a4a-9a36-0f3a8e1c7d11",
    instrument=INSTRUMENT,
    user="mgarcia",
    started=NOW - timedelta(hours=20, minutes=5),
    start_text=(NOW - timedelta(hours=20, minutes=5)).isoformat(),
    last_heartbeat=NOW - timedelta(hours=16, minutes=48),
)
DATABASE = r"\\nexuslims-share\nexuslims\nexuslims_db.sqlite"
CONTACT = "Jane Smith, microscopy facility, +1 301 975 2000"


def settle(ms: int = 300) -> None:
    """Let animations (the note field's clear button fades in) finish, for stable pictures."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save(widget: QWidget, name: str) -> None:
    settle()
    path = OUT / name
    widget.grab().save(str(path))
    print(f"wrote {path}")


def example_database() -> Path:
    """A small NexusLIMS database with fixed sessions: some pending build, one built, problems.

    No session is open, so nothing on the pictures depends on today's date.
    """
    from sqlalchemy import insert

    from nexus_logger.core.db.engine import get_engine, write_transaction
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.logger_tables import ensure_tables, note
    from nexus_logger.core.db.models import session_log
    from nexus_logger.core.db.schema import init_db

    path = Path(os.environ["NEXUS_LOGGER_HOME"]) / "admin-example.sqlite"
    path.unlink(missing_ok=True)
    init_db(str(path))
    sem = "FEI-Quanta-ESEM-633137"
    add_instrument(
        INSTRUMENT.instrument_pid,
        display_name=INSTRUMENT.display_name,
        timezone=ZONE,
        location=INSTRUMENT.location or "",
        engine=str(path),
    )
    add_instrument(sem, display_name="FEI Quanta ESEM", timezone=ZONE, engine=str(path))
    tem = INSTRUMENT.instrument_pid
    sessions = [
        # (identifier, instrument, day, start, end, user, status, end user, built at)
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c01",
            tem,
            5,
            "09:02",
            "11:47",
            "akim",
            "COMPLETED",
            None,
            "23:00",
        ),
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c02",
            sem,
            6,
            "13:15",
            "16:40",
            "lchen",
            "ERROR",
            None,
            "23:05",
        ),
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c03",
            tem,
            9,
            "08:30",
            "12:05",
            "pnguyen",
            "TO_BE_BUILT",
            "pnguyen2",
            None,
        ),
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c04",
            sem,
            9,
            "14:00",
            "15:20",
            "akim",
            "TO_BE_BUILT",
            None,
            None,
        ),
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c05",
            tem,
            10,
            "08:10",
            "09:45",
            "mgarcia",
            "TO_BE_BUILT",
            None,
            None,
        ),
        (
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c06",
            tem,
            10,
            "10:02",
            "12:58",
            "jsmith",
            "TO_BE_BUILT",
            None,
            None,
        ),
    ]
    rows = []
    for ident, pid, day, start, end, user, status, end_user, built in sessions:
        offset = "-04:00" if day >= 8 else "-05:00"  # US daylight saving time from 8 March
        stamp = f"2026-03-{day:02d}T{{}}:00{offset}"
        events = [("START", start, user), ("END", end, end_user or user)]
        if built:
            events.append(("RECORD_GENERATION", built, "nexuslims"))
        for event, at, who in events:
            rows.append(
                {
                    "session_identifier": ident,
                    "instrument": pid,
                    "timestamp": stamp.format(at),
                    "event_type": event,
                    "record_status": status,
                    "user": who,
                }
            )
    engine = get_engine(str(path))
    ensure_tables(engine, [note])
    with write_transaction(engine) as conn:
        conn.execute(insert(session_log), rows)
        conn.execute(
            insert(note).values(
                session_identifier="3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c03",
                note="Lamella 3, tilt series at 200 kV.\nSwitched to the second holder at 10:40.",
                updated="2026-03-09T10:41:00-04:00",
            )
        )
    return path


def wait_until_idle(tab: QWidget, seconds: float = 30.0) -> None:
    """Let the database worker answer every query of the admin tab."""
    deadline = time.monotonic() + seconds
    while (tab.busy or tab.model.loading) and time.monotonic() < deadline:
        settle(50)
    if tab.busy or tab.model.loading:
        raise RuntimeError("the admin tab did not finish loading")


def admin_shots(worker: DbWorker, window: MainWindow) -> None:
    """The Admin tab on :func:`example_database`: in the instrument-PC window at its default
    size (sessions pending build), and alone in ``nexus-logger admin``'s window (problems)."""
    from nexus_logger.core.staff import admin_actions
    from nexus_logger.gui.admin import AdminTab
    from nexus_logger.gui.admin.end_time import EndTimeDialog
    from nexus_logger.gui.admin.window import AdminWindow

    database = str(example_database())
    login = admin_actions.current_login()
    settings = load_settings(
        None, {"database": database, "administrators": [login], "admin_refresh_seconds": 0}
    )

    def prepare(tab: AdminTab) -> None:
        tab.dates_check.setChecked(True)  # a fixed week, not the week of the run
        for edit, day in ((tab.date_from, 3), (tab.date_to, 10)):
            edit.setDate(QDate(2026, 3, day))
        wait_until_idle(tab)

    # In the main window, as staff see it on an instrument PC (760 x 640).
    window.settings = settings
    window.tabs.setCurrentIndex(1)
    tab = window._admin_tab
    assert isinstance(tab, AdminTab)
    wait_until_idle(tab)
    prepare(tab)
    idents = [summary.session_identifier for summary in tab.model.summaries()]
    # The session whose START and END users differ: its fix is one of the admin actions.
    tab.select_row(idents.index("3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c03"))
    wait_until_idle(tab)
    tab.last_refresh = NOW  # the clock on the picture, not the one of the machine making it
    tab._update_status()
    save(window, "admin.png")

    dialog = EndTimeDialog(
        datetime(2026, 3, 10, 8, 10, tzinfo=TZ), ZONE, window, now=NOW + timedelta(minutes=5)
    )
    dialog.edit.setText("2026-03-10 12:00")
    dialog.show()
    save(dialog, "force-end.png")
    dialog.edit.setText("2026-12-01 12:00")
    save(dialog, "force-end-future.png")
    dialog.hide()

    # Alone, at the admin window's default size.
    admin = AdminWindow(worker, settings)
    admin.show()
    prepare(admin.tab)
    admin.tab.pages.setCurrentIndex(admin.tab.pages.indexOf(admin.tab.problems_view.parentWidget()))
    wait_until_idle(admin.tab)
    admin.tab.problems_view.selectRow(0)
    admin.tab.last_refresh = NOW
    admin.tab._update_status()
    save(admin, "admin-problems.png")
    admin.close()
    fleet_shot(window, database)


def fleet_shot(window: MainWindow, database: str) -> None:
    """The Fleet page in the instrument-PC window: four PCs, two of which need a look."""
    from nexus_logger.core.db.engine import get_engine, write_transaction
    from nexus_logger.core.db.logger_tables import pc_report
    from nexus_logger.core.staff import fleet

    pcs = [  # host, instrument, version, minutes ago, waiting, session
        (
            "tem-pc-01",
            "FEI-Titan-TEM-635816",
            "0.1.0",
            1,
            0,
            "3f9c2a10-5b7e-4d61-9a0c-1e2f3a4b5c06",
        ),
        ("sem-pc-02", "FEI-Quanta-ESEM-633137", "0.1.0", 12, 3, None),
        ("tem-pc-03", "FEI-Titan-TEM-635816", "0.0.9", 50, 0, None),
        ("old-sem-pc", "FEI-Quanta-ESEM-633137", "0.1.0", 60 * 30, 0, None),
    ]
    for host, pid, version, _ago, waiting, _ident in pcs:
        fleet.report_pc(
            hostname=host, instrument=pid, waiting_events=waiting, session_identifier=None,
            os_login="tech", version=version, engine=database,
        )  # fmt: skip
    with write_transaction(get_engine(database)) as conn:
        for host, _pid, _version, ago, _waiting, ident in pcs:
            conn.execute(
                pc_report.update()
                .where(pc_report.c.hostname == host)
                .values(
                    reported=(NOW - timedelta(minutes=ago)).isoformat(), session_identifier=ident
                )
            )
    tab = window._admin_tab
    tab.fleet_page.model.now = lambda: NOW
    real = fleet.list_fleet
    fleet.list_fleet = lambda **kw: real(**(kw | {"now": NOW}))  # the picture's clock
    try:
        tab.pages.setCurrentIndex(tab.pages.indexOf(tab.fleet_page))
        wait_until_idle(tab)
    finally:
        fleet.list_fleet = real
    save(window, "admin-fleet.png")


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    worker = DbWorker()
    window = MainWindow(worker, lambda: load_settings(None, {"database": DATABASE}))
    window.resize(760, 640)
    window.show()
    steps, session, ended = window.steps_page, window.session_page, window.ended_page

    steps.reset()
    steps.set_step(Step.CONNECT, StepState.DONE, DATABASE)
    steps.set_step(Step.IDENTIFY, StepState.DONE, "FEI Titan TEM (FEI-Titan-TEM-635816)")
    steps.set_step(Step.CHECK, StepState.ACTIVE)
    window.sync_indicator.set_state(True, 0)
    save(window, "starting.png")

    steps.set_step(Step.CHECK, StepState.PENDING)
    steps.set_step(
        Step.IDENTIFY,
        StepState.FAILED,
    )
    steps.show_error(
        "This PC (host name 'TITAN-SUPPORT-PC') is not linked to an instrument in the "
        f"database {DATABASE}. Known instruments: FEI-Quanta-ESEM-633137, "
        "FEI-Titan-TEM-635816. Run 'nexus-logger station set PID' on this PC once, or pass "
        "--instrument PID.",
        CONTACT,
    )
    steps.show_diagnosis(
        "Pre-flight check \u201cThis PC's instrument\u201d: What to do: Map this PC once with "
        "'nexus-logger station set PID' (it is stored in the database for every user of this "
        "PC), or set 'instrument' in the config file."
    )
    window._set_phase(Phase.FAILED)  # as the window's failed step sets it (footer too)
    window.sync_indicator.show_failed()
    save(window, "failed.png")
    steps.show_details(True)
    save(window, "failed-details.png")
    steps.show_details(False)
    window._set_phase(Phase.RUNNING)

    window.pages.setCurrentWidget(session)
    session.show_session(SESSION, queued=False, now=NOW)
    session.set_message("Session started on FEI Titan TEM for jsmith.")
    session.note_status.setText("Note saved.")
    window.sync_indicator.set_state(True, 0)
    save(window, "running.png")

    session.show_session(SESSION, queued=True, now=NOW)
    session.set_message(
        "The database cannot be reached right now. The session start is saved on this PC "
        "and will be sent automatically."
    )
    window.sync_indicator.set_state(False, 1)
    save(window, "running-offline.png")

    session.show_session(SESSION, queued=False, now=NOW)
    session.set_ending()
    session.set_message("")
    window.sync_indicator.set_state(True, 0)
    save(window, "ending.png")

    window.pages.setCurrentWidget(ended)
    ended.show_ended(
        instrument="FEI Titan TEM (FEI-Titan-TEM-635816)",
        user="jsmith",
        started=SESSION.started,
        ended=NOW,
        message="Session ended. NexusLIMS will build its record.",
        queued=False,
        now=NOW,
    )
    ended.set_countdown(3)
    save(window, "ended.png")

    resume = ResumeDialog(OLD_SESSION, window, now=NOW)
    resume.show()
    save(resume, "resume-dialog.png")
    resume.hide()

    close = CloseDialog("FEI Titan TEM", window)
    close.show()
    save(close, "close-dialog.png")
    close.hide()

    log_path = Path(os.environ["NEXUS_LOGGER_HOME"]) / "example.log"
    log_path.write_text(
        "\n".join(
            [
                "2026-03-10T13:06:27.114-05:00 INFO     nexus_logger.gui.app: Window shown 148 ms after run_app",
                "2026-03-10T13:06:27.402-05:00 INFO     nexus_logger.core.sessions.starting: Started session "
                "5d0f4e0c-8a43-4b0e-9f57-2f3b7c1d9a10 on FEI-Titan-TEM-635816 for jsmith",
                "2026-03-10T13:36:27.518-05:00 WARNING  nexus_logger.core.sessions.heartbeat_and_note: Heartbeat of "
                "5d0f4e0c-8a43-4b0e-9f57-2f3b7c1d9a10 kept on this PC only: The database file "
                f"{DATABASE} cannot be reached (it is missing or its share is not connected).",
                "2026-03-10T13:37:27.530-05:00 INFO     nexus_logger.core.offline.outbox_keeper: Outbox sent: "
                "Sent 1 saved event.",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    log = LogWindow(window, path=log_path)
    # Where the log lives on a Windows instrument PC (the example file is a temporary one).
    log.path_label.setText(
        r"Log file: C:\Users\jsmith\AppData\Local\nexus-logger\Logs\nexus-logger.log"
    )
    log.resize(900, 360)
    log.show()
    log.copy_to_clipboard()
    save(log, "log-window.png")
    log.hide()

    admin_shots(worker, window)

    window._closing = True
    window.close()
    worker.shutdown()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
