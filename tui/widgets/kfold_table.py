"""The K-fold table: a row per finished fold, then mean and std (and per-repeat means)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from dltui.engine.train.results import kfold_table

from ..report import kfold_cells


class KFoldTable(DataTable):
    DEFAULT_CSS = "KFoldTable { height: auto; max-height: 16; }"

    def show(self, rows: list[dict[str, Any]], narrow: bool = False) -> None:
        """`narrow` (80 columns): fold and sizes in one column each, the metrics at the best
        epoch only (the last epoch's are in the curves), so nothing is cut."""
        names, folds, below = kfold_cells(rows, kfold_table(rows))
        self.clear(columns=True)
        if narrow:
            self.add_columns("fold", "train/val", "best", *names)  # metrics: at the best epoch
            for cells in folds + below:
                where = f"r{cells[0]} f{cells[1]}" if cells[1].isdigit() else f"{cells[0]} {cells[1]}"
                sizes = f"{cells[2]}/{cells[3]}" if cells[2] else ""
                self.add_row(where, sizes, cells[4], *cells[5:5 + len(names)])
            return
        self.add_columns("repeat", "fold", "train", "val", "best ep",
                         *[f"{n} @best" for n in names], *[f"{n} @last" for n in names])
        for cells in folds + below:
            self.add_row(*cells)
