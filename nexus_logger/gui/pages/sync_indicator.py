"""The status line under every page: is the database reachable, and what waits on this PC."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from nexus_logger.gui import text, theme


class SyncIndicator(QLabel):
    """ "Online" or "N events waiting on this PC", with a coloured dot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        theme.set_font(self, theme.BASE_PT + 1)
        # Two lines' room from the start: a longer status never moves the End button.
        self.setMinimumHeight(self.fontMetrics().lineSpacing() * 2 + 8)
        self.online: bool | None = None
        self.pending: int | None = 0
        self.conflicts = 0
        #: "demo database" while the demo is in use, so "saved in the database" is not read
        #: as NexusLIMS's database; None when there is no database at all (not set up).
        self.database_words: str | None = "database"
        self.set_state(None, 0)

    def set_state(
        self,
        online: bool | None,
        pending: int | None,
        conflicts: int = 0,
        *,
        refusing: bool = False,
        unusable: bool = False,
    ) -> None:
        """Show the database's reachability, the events kept on this PC and open conflicts.

        ``refusing``: the database answers but refuses writes (a read-only share); the events
        wait for that, and "Offline" would send the user looking for a network fault.
        ``unusable``: of those, the file is there but no usable NexusLIMS database right now
        (empty, replaced). ``pending`` None: this PC's outbox cannot be read (a full disk), so
        whether anything waits there is not known, and "everything is saved" would be a guess.
        """
        self.online, self.pending, self.conflicts = online, pending, conflicts
        refuses = "cannot be used" if unusable else "refuses changes"
        if self.database_words is None:
            color, words = theme.RED, "Not set up: nothing is logged on this PC"
        elif pending is None:
            color = theme.AMBER
            words = "This PC's outbox cannot be read: what it keeps is not sent (see the log)"
        elif pending:
            color = theme.AMBER
            # Events held by a conflict are not sent by themselves: no promise then.
            how = "kept" if conflicts else "waiting"
            words = f"{text.plural(pending, 'event')} {how} on this PC"
            if not conflicts:
                words += ", sent automatically"
            if refusing:
                words = f"The database {refuses}: " + words
            elif online is False:
                words = "Offline: " + words
        elif online is None:
            color, words = theme.GREY, "Checking the database\u2026"
        elif online and refusing:
            color, words = theme.AMBER, f"The database answers but {refuses} right now"
        elif online:
            color = theme.GREEN
            words = f"Online: everything is saved in the {self.database_words}"
        else:
            color, words = theme.AMBER, "Database not reachable right now"
        if conflicts:
            color = theme.AMBER
            words += (
                f". Staff attention needed: {text.plural(conflicts, 'conflict')} "
                "(details in the debug log)"
            )
        self.setText(f'<span style="color:{color}; font-size:large">\u25cf</span> {words}')
        self.setToolTip(words)

    def show_failed(self) -> None:
        """The start-up failed (the page says why): nothing is being checked any more."""
        self.online = None
        words = "Not logging: the start-up stopped (see above)"
        self.setText(f'<span style="color:{theme.RED}; font-size:large">\u25cf</span> {words}')
        self.setToolTip(words)

    def plain_text(self) -> str:
        """The words shown, without markup (for tests and logs)."""
        return self.toolTip()
