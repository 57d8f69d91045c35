"""The one way the Admin tab's pages build a read-only table view.

Every page's table selects whole rows, alternates row colours, lets Tab move on to the next
control and sizes its columns from the header titles at once, so a title never shows cut off
before the first rows arrive.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


class RowTable(QTableView):
    """A table view that remembers which columns a person resized by hand, so that
    :func:`fit_columns` leaves their widths alone and fits the others, narrower too."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.resized_by_hand: set[int] = set()
        self.fitting = False

    def note_resized(self, column: int) -> None:
        """A section changed size: by hand unless :func:`fit_columns` did it (the stretched
        last column follows the view's width, not a person)."""
        if not self.fitting and column != self.model().columnCount() - 1:
            self.resized_by_hand.add(column)


def make_table_view(model: QAbstractItemModel, parent: QWidget) -> RowTable:
    """A single-selection, read-only row table over ``model``, its titles shown whole."""
    view = RowTable(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    # Tab leaves the table (the arrow keys move between rows): with Qt's default it went from
    # cell to cell for ever, and the buttons under a table could not be reached by keyboard.
    view.setTabKeyNavigation(False)
    view.verticalHeader().setVisible(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    # Size columns from the first rows only: measuring thousands of rows blocks the GUI.
    header.setResizeContentsPrecision(50)
    view.resizeColumnsToContents()  # empty: every header title shows whole from the start
    # Stretch only now: a stretched last section never gets narrower than it was when the
    # stretch was switched on, and now it is as wide as its title.
    header.setStretchLastSection(True)
    header.sectionResized.connect(lambda column, _old, _new: view.note_resized(column))
    return view


#: The widest a column is made to fit its rows (a user may drag it wider): a long note or
#: summary is cut with "..." there and shown whole in its tooltip; at its full width one note
#: made a column of 1,000 px and pushed every other column off the screen.
MAX_FITTED_WIDTH = 360


def fit_columns(view: RowTable, widest: dict[int, int] | None = None) -> None:
    """Fit every column to its title and the rows now loaded (the first 50 are measured),
    at most :data:`MAX_FITTED_WIDTH` or its own ``widest``; a column a person resized by hand
    keeps its width.

    Called whenever new rows replace the old (another filter, a reload): sizing only once, from
    the very first rows, left longer values that came later (WAITING_FOR_END after
    TO_BE_BUILT, "0 min (running)") cut off; and widening only, one long name kept its column
    wide for good and pushed the end of each session behind the scroll bar.
    """
    header = view.horizontalHeader()
    model = view.model()
    view.fitting = True
    try:
        for column in range(model.columnCount()):
            if header.isSectionHidden(column) or column in view.resized_by_hand:
                continue
            most = (widest or {}).get(column, MAX_FITTED_WIDTH)
            rows = min(view.sizeHintForColumn(column), most)
            wanted = max(rows, header.sectionSizeHint(column))
            if header.sectionSize(column) != wanted:
                header.resizeSection(column, wanted)
    finally:
        view.fitting = False
