"""The database work of the window: plain functions that run on the :class:`DbWorker` thread.

Nothing here touches a widget. The core (and SQLAlchemy with it) is imported inside the
functions, so that none of it is loaded before the window is on screen.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from types import EllipsisType
from typing import TYPE_CHECKING

from nexus_logger.core.errors import (
    AccessDenied,
    Conflict,
    DatabaseReadOnly,
    DatabaseUnavailable,
    NotFound,
    SchemaError,
    SessionEnded,
)
from nexus_logger.gui import text

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.offline.outbox import OutboxEvent
    from nexus_logger.core.sessions.lifecycle import OpenSession
    from nexus_logger.core.settings.config import Settings

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connected:
    """Result of the first step: the logger to use, who is logged in, and whether we are online."""

    logger: DurableLogger
    user: str
    database: str
    online: bool
    offline_reason: str | None
    pending: int | None  # None: this PC's outbox cannot be read
    #: Open conflicts (events held, not sent by themselves): the status line must not promise
    #: "sent automatically" for those.
    conflicts: int = 0


@dataclass(frozen=True)
class SyncState:
    """What the status line says: reachable or not, and how many events wait on this PC."""

    online: bool
    pending: int | None  # None: this PC's outbox cannot be read
    detail: str | None = None
    conflicts: int = 0  # outbox conflicts not yet marked handled (docs/outbox.md)
    #: The database answers but refuses writes (a read-only share): not "offline".
    refusing: bool = False
    #: Of those: the file is there but no usable NexusLIMS database (empty, replaced).
    unusable: bool = False
    #: The running session's START kept on this PC: True once it is in the database, False
    #: while it is not, None when this PC kept none (or was not asked).
    start_sent: bool | None = None
    #: Why that START is held and not sent by itself (for its user), or None.
    start_held: str | None = None
    #: What happens now that staff marked that held START's conflict handled, or None.
    start_handled: str | None = None


@dataclass(frozen=True)
class HeartbeatResult:
    """A heartbeat: when, or that the session was ended elsewhere (staff force-end), and when
    its stored END says it ended (``ended_at``; ``None`` when that time cannot be read)."""

    at: datetime | None
    ended_elsewhere: str | None = None
    ended_at: datetime | None = None
    #: The session's note as stored now (``None``: none); ``...`` when it was not read.
    note: str | None | EllipsisType = ...
    #: The database could not be reached: the heartbeat was kept on this PC.
    unreachable: bool = False
    #: The database answered but refused the write (read-only): kept on this PC too.
    refused: bool = False


def connect(settings: Settings) -> Connected:
    """Open the configured database and check it is a NexusLIMS one.

    An unreachable database is not a failure here: the session can still be kept on this PC
    (the outbox), so the result says "offline" and the next steps carry on. Any other problem
    (wrong file, no NexusLIMS tables, bad URL) is raised for the window to show.
    """
    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.db.schema import inspect_schema, require_usable
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions import lifecycle

    target = settings.database_target  # NotSetUp on a PC with no database and no demo
    if settings.uses_demo:
        # The demo was asked for: the local demo database (made on first use, this PC mapped
        # to a demo instrument).
        from nexus_logger.core.setup.demo import ensure_demo_database

        target = str(ensure_demo_database())
    engines.set_default_database(target)
    user = lifecycle.default_user()
    from nexus_logger.core.sessions.time_rules import TimeRules

    logger = DurableLogger(
        target,
        timeout=float(settings.db_timeout_seconds),
        rules=TimeRules.from_settings(settings),
        outbox_folder=settings.outbox_folder,
    )
    online, reason = True, None
    try:
        engine = logger.engine()
        # Read the schema afresh (not from the engine's cache): this is the step that tells
        # the user whether the database answers now.
        inspect_schema(engine, refresh=True)
        require_usable(engine)
    except DatabaseUnavailable as err:
        online, reason = False, str(err)
        _logger.warning("Starting offline: %s", err)
    pending = _waiting_here(logger)[0]
    if online and pending:
        report = logger.sync()
        _logger.info("Sent saved events at start-up: %s", report.message)
        pending = report.pending
    where = engines.describe(target)
    if settings.uses_demo:
        where = f"The demo database {where}: sessions are not sent to NexusLIMS."
    return Connected(logger, user, where, online, reason, pending, _waiting_here(logger)[1])


def _conflicts_here(logger: DurableLogger) -> int:
    """Open conflicts of this window's database (the outbox holds those of every database)."""
    return sum(c.database == logger.database_key for c in logger.conflicts())


def _waiting_here(logger: DurableLogger) -> tuple[int | None, int]:
    """(events waiting on this PC, open conflicts) for this window's database.

    (None, 0) when the outbox cannot be read (a full disk, a folder it may not write): the
    session still goes to the database, the logger tells the person once that nothing can
    be kept on this PC meanwhile, and the status line says what it cannot know (not
    "everything is saved"). Raised, it stopped the window at "Connecting", with the
    database there, so no session was logged at all.
    """
    from nexus_logger.core.offline.outbox import OutboxError

    try:
        return logger.pending_count(), _conflicts_here(logger)
    except OutboxError as err:
        logger.keeper.failed(err)
        return None, 0


def sync_state(logger: DurableLogger, session: OpenSession | None = None) -> SyncState:
    """Send what waits on this PC (if anything) and say whether the database answers; with
    ``session`` (one whose START was kept here), also where that START is now."""
    if _waiting_here(logger)[0]:
        report = logger.sync()
        online = report.error is None and not report.busy
        conflicts = _waiting_here(logger)[1]
        state = SyncState(
            online,
            report.pending,
            report.error,
            conflicts,
            report.refused_writes,
            unusable=report.unusable,
        )
    else:
        online, error, refusing, unusable = True, None, False, False
        try:
            logger.check_reachable()
        except DatabaseUnavailable as err:
            online, error = False, str(err)
        except (DatabaseReadOnly, SchemaError, AccessDenied) as err:  # it answers: not offline
            # (AccessDenied: a login or right withdrawn while the window runs; a failed job
            # here left the line saying "Online: everything is saved".)
            error, refusing, unusable = str(err), True, isinstance(err, SchemaError)
        pending, conflicts = _waiting_here(logger)
        state = SyncState(online, pending, error, conflicts, refusing=refusing, unusable=unusable)
    if session is None:
        return state
    sent, held, handled = _kept_start(logger, session)
    return dataclasses.replace(state, start_sent=sent, start_held=held, start_handled=handled)


def _kept_start(
    logger: DurableLogger, session: OpenSession
) -> tuple[bool | None, str | None, str | None]:
    """(in the database yet, why it is held, what now that staff handled it) of the session's
    START kept on this PC.

    "The session start has been sent" waited for nothing at all to wait on this PC: an
    older conflict of another session kept that from ever being said. And a START held
    because another session is open on the instrument was still shown as "will be sent when
    the database answers", which it will not be. Once staff marked the hold handled (which
    gives the START up), the page still told its user to tell staff.
    """
    from nexus_logger.core.offline.outbox import EventKind, EventState
    from nexus_logger.core.sessions import lifecycle

    ident = session.session_identifier
    kept = [
        e
        for e in logger.outbox.items(
            database=logger.database_key, states=tuple(EventState), session_identifier=ident
        )
        if e.kind is EventKind.START
    ]
    if not kept:
        return None, None, None
    if kept[-1].state is EventState.SENT:
        return True, None, None
    if kept[-1].state is EventState.SKIPPED:  # its conflict marked handled: given up alone
        return False, None, _WRITTEN_AT_END
    if kept[-1].state is not EventState.HELD:
        return False, None, None
    holder = None
    try:
        holder = lifecycle.find_open_session(
            session.instrument.instrument_pid, engine=logger.engine()
        )
    except DatabaseUnavailable:
        pass
    why = (
        "the database does not take it as it is (another session overlaps it, or a rule refuses it)"
    )
    if holder is not None and holder.session_identifier != ident:
        why = (
            "the database has another session open on this instrument "
            f"({holder.user or 'no user'}'s, since {text.when(holder.started)})"
        )
    return (
        False,
        f"Your session's start could not be written: {why}. It stays on this PC and is not "
        "sent by itself; please tell facility staff.",
        None,
    )


#: A START whose hold staff marked handled: the END writes the whole session (docs/outbox.md,
#: start_while_open), or keeps it here if another session overlaps it.
_WRITTEN_AT_END = (
    "Facility staff have seen why your session's start could not be written. It stays on "
    "this PC: when you end the session, its start and end are written together, unless "
    "another session overlaps it."
)


def stored_end(logger: DurableLogger, session_identifier: str) -> datetime | None:
    """The time of the session's END as the database has it (see ``lifecycle.stored_end``)."""
    from nexus_logger.core.sessions import lifecycle

    return lifecycle.stored_end(session_identifier, engine=logger.engine())


def heartbeat(logger: DurableLogger, session: OpenSession) -> HeartbeatResult:
    """Record that the session is alive; notice when staff ended it meanwhile."""
    from nexus_logger.core.sessions import lifecycle

    try:
        engine = logger.engine()
        at = lifecycle.record_heartbeat(
            session.session_identifier, engine=engine, instrument=session.instrument
        )
    except (DatabaseUnavailable, DatabaseReadOnly) as err:
        # Away, or answering but refusing writes (a read-only share): kept on this PC.
        how = {"unreachable": True} if isinstance(err, DatabaseUnavailable) else {"refused": True}
        ended = _ended_here_by_another_login(logger, session)
        if ended is not None:
            # Another login of this PC ended it ("End their session and start mine") and that
            # END waits in this PC's outbox. The window went on showing the session running,
            # and its End was then folded into that END.
            return HeartbeatResult(None, f"ended by {ended.ended_by} on this PC", ended.at, **how)
        # Keep the real last-alive time on this PC; it is what a later "End it at its last
        # heartbeat" should use if this session is never ended properly.
        _logger.info("Heartbeat of %s kept on this PC: %s", session.session_identifier, err)
        at = lifecycle.record_local_heartbeat(session.session_identifier, session.instrument)
        return HeartbeatResult(at, **how)
    except Conflict as err:
        if logger.pending_count():
            # This PC still holds an END (or START) for it; the database is simply behind.
            return HeartbeatResult(None)
        return HeartbeatResult(
            None, str(err), err.ended_at if isinstance(err, SessionEnded) else None
        )
    except NotFound:
        # The START is still waiting in the outbox: the database has nothing to beat on yet.
        at = lifecycle.record_local_heartbeat(session.session_identifier, session.instrument)
        return HeartbeatResult(at)
    report_pc(logger, session.instrument.instrument_pid, session.session_identifier)
    try:
        # Another window (a login continuing this session) or the command line may have
        # changed the note: the window shows the stored one, not its own memory of it.
        note = lifecycle.get_note(session.session_identifier, engine=engine)
    except DatabaseUnavailable:
        return HeartbeatResult(at)
    return HeartbeatResult(at, note=note)


def _ended_here_by_another_login(logger: DurableLogger, session: OpenSession) -> OutboxEvent | None:
    """The END another login of this PC kept for ``session`` (not sent yet), or None."""
    from nexus_logger.core.offline.outbox import WAITING_STATES, EventKind

    kept = logger.keeper.call(
        logger.outbox.items,
        database=logger.database_key,
        states=WAITING_STATES,
        session_identifier=session.session_identifier,
    )
    ends = [e for e in kept or [] if e.kind is EventKind.END and e.ended_by]
    return ends[-1] if ends else None


def report_pc(
    logger: DurableLogger, instrument: str | None, session_identifier: str | None
) -> None:
    """Tell the Fleet page how this PC is (core/staff/fleet.py); never fails the job it rides on."""
    from nexus_logger.core.staff import fleet

    fleet.report_this_pc(logger, instrument, session_identifier)


def save_note(
    logger: DurableLogger,
    session: OpenSession,
    note: str | None,
    expected: str | None | EllipsisType,
) -> str | None:
    """Store the session note if the stored one is still ``expected`` (what this window last
    read or wrote: :class:`~nexus_logger.core.errors.NoteChanged` otherwise); returns the
    cleaned note."""
    from nexus_logger.core.sessions import lifecycle

    cleaned = lifecycle.clean_note(note)
    lifecycle.set_note(
        session.session_identifier, cleaned, engine=logger.engine(), expected=expected
    )
    return cleaned


def diagnose(settings: Settings, error: BaseException | None) -> str | None:
    """Run the pre-flight checks after a failed start and describe the one that explains it.

    The same checks as ``nexus-logger doctor``; ``None`` when every check passes (the step's
    own message is then all there is to say).
    """
    from nexus_logger.core.setup.doctor import relevant_check, run_checks

    check = relevant_check(run_checks(settings), error)
    if check is None:
        return None
    text = f"Pre-flight check \u201c{check.title}\u201d:"
    if error is None or check.message.strip() != str(error).strip():
        text += f" {check.message}"  # not already on screen as the step's own sentence
    return f"{text} What to do: {check.fix}" if check.fix else text
