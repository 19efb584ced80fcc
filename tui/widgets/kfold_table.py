"""The K-fold table: a row per finished fold, then mean and std (and per-repeat means)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from dltui.engine.results import kfold_table
from dltui.tui.report import kfold_cells


class KFoldTable(DataTable):
    DEFAULT_CSS = "KFoldTable { height: auto; max-height: 16; }"

    def show(self, rows: list[dict[str, Any]]) -> None:
        names, folds, below = kfold_cells(rows, kfold_table(rows))
        self.clear(columns=True)
        self.add_columns("repeat", "fold", "train", "val", "best ep",
                         *[f"{n} @best" for n in names], *[f"{n} @last" for n in names])
        for cells in folds + below:
            self.add_row(*cells)
