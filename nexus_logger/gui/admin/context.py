"""What every part of the Admin tab works with: its queries on the shared database worker
(:class:`TabJobs`) and who is looking at which database (:class:`TabContext`).

Every query is counted (the tab is ``busy`` until all have answered), passes through
core/staff/privacy.py when the viewer may not see people, and slow scans can wait until the
queries the person is looking at have answered (:meth:`TabJobs.after_idle`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from nexus_logger.core.settings.config import Settings
from nexus_logger.core.staff import privacy
from nexus_logger.gui.worker import DbWorker, JobError


def _without_people(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on the worker and hide every name and note in what it returns."""
    return privacy.hide_people(fn(*args, **kwargs))


class TabJobs:
    """Submits the tab's queries and knows how many are still running."""

    def __init__(
        self,
        owner: QWidget,
        worker: DbWorker,
        *,
        hide_people: bool,
        on_busy: Callable[[bool], None],
        on_error: Callable[[JobError], None],
    ) -> None:
        # Weak: the tab holds this object, and a cycle would keep a closed tab's parts alive.
        self._owner = weakref.ref(owner)
        self._worker = worker
        self._hide_people = hide_people
        self._on_busy = on_busy
        self._on_error = on_error
        self._jobs = 0
        self._when_idle: list[Callable[[], None]] = []

    @property
    def busy(self) -> bool:
        """True while any query of the tab is running or queued."""
        return self._jobs > 0

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        on_error: Callable[[JobError], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run ``fn`` on the worker; ``on_done`` (or ``on_error``) gets its answer."""
        self._jobs += 1
        self._on_busy(True)

        def finish() -> bool:
            owner = self._owner()
            if owner is None or not isValid(owner):
                return False  # the tab was closed while the job ran
            self._jobs -= 1
            self._on_busy(self._jobs > 0)
            return True

        def done(result: Any) -> None:
            if finish():
                on_done(result)
                self._run_when_idle()

        def failed(error: JobError) -> None:
            if finish():
                (on_error or self._on_error)(error)
                self._run_when_idle()

        if self._hide_people:
            self._worker.submit(_without_people, fn, *args, on_done=done, on_error=failed, **kwargs)
        else:
            self._worker.submit(fn, *args, on_done=done, on_error=failed, **kwargs)

    def after_idle(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once every query of the tab has answered (at once if none is queued).

        The slow whole-table scans (problems) wait here, so that the list and its counts,
        which the person is looking at, are never queued behind them.
        """
        if self._jobs == 0:
            fn()
        else:
            self._when_idle.append(fn)

    def _run_when_idle(self) -> None:
        while self._jobs == 0 and self._when_idle:
            self._when_idle.pop(0)()


@dataclass(frozen=True)
class TabContext:
    """The tab's queries, its database and settings, and what the viewer may see and do."""

    jobs: TabJobs
    database: str
    settings: Settings
    #: Listed in ``administrators``: may run the admin actions.
    is_admin: bool
    #: May not see who used an instrument (``admin_tab_shows_people``).
    hide_people: bool
