"""What an admin action's plan refuses before anything is shown as possible: each refusal
keeps NexusLIMS's build run working or a session from being built twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus_logger.core.errors import Conflict, InvalidInput
from nexus_logger.core.staff import admin_actions as aa
from tests.helpers_admin import NOW, NY, SEM, TEM, insert_rows, ny


def test_requeue_refuses_a_session_with_two_starts(sqlite_db: str) -> None:
    """Two STARTs of one session: put back in the queue, it would be built twice."""
    insert_rows(
        sqlite_db,
        [
            ("dup", TEM, ny(50), "START", "ERROR", "alice"),
            ("dup", TEM, ny(49.5), "START", "ERROR", "alice"),
            ("dup", TEM, ny(49), "END", "ERROR", "alice"),
        ],
    )
    with pytest.raises(Conflict, match="2 START rows"):
        aa.plan_requeue("dup", engine=sqlite_db)


def test_requeue_refuses_an_end_on_another_instrument(sqlite_db: str) -> None:
    """NexusLIMS cannot pair a START and an END of two instruments: its whole build run stops
    on such a session, so it is never put back in the queue."""
    insert_rows(
        sqlite_db,
        [
            ("mixed", TEM, ny(50), "START", "ERROR", "alice"),
            ("mixed", SEM, ny(49), "END", "ERROR", "alice"),
        ],
    )
    with pytest.raises(Conflict, match="could not pair"):
        aa.plan_requeue("mixed", engine=sqlite_db)


def test_force_end_refuses_a_start_that_is_not_open(sqlite_db: str) -> None:
    """An ERROR START is no open session: refused at the preview, not when applied."""
    insert_rows(sqlite_db, [("err", TEM, ny(50), "START", "ERROR", "alice")])
    at = (NOW - timedelta(hours=49)).astimezone(NY).replace(tzinfo=None)
    with pytest.raises(Conflict, match="force-end only works on open sessions"):
        aa.plan_force_end("err", at, engine=sqlite_db)


def test_closing_a_start_in_the_future_refuses_an_end_in_the_future(sqlite_db: str) -> None:
    future = datetime.now(UTC) + timedelta(days=2)
    insert_rows(
        sqlite_db,
        [("fut", TEM, future.astimezone(NY).isoformat(), "START", "WAITING_FOR_END", "alice")],
    )
    at = (datetime.now(UTC) + timedelta(days=1)).astimezone(NY).replace(tzinfo=None)
    with pytest.raises(InvalidInput, match="in the future"):
        aa.plan_force_end("fut", at, engine=sqlite_db)
