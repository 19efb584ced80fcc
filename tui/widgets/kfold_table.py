"""The K-fold table: a row per finished fold, then mean and std (and per-repeat means)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from dltui.engine.results import kfold_table
from dltui.tui.report import fmt


class KFoldTable(DataTable):
    DEFAULT_CSS = "KFoldTable { height: auto; max-height: 16; }"

    def show(self, rows: list[dict[str, Any]]) -> None:
        names = list(rows[0]["best"]) if rows else ["loss"]
        self.clear(columns=True)
        self.add_columns("repeat", "fold", "train", "val", "best ep",
                         *[f"{n} @best" for n in names], *[f"{n} @last" for n in names])
        for r in rows:
            self.add_row(r["repeat"], r["fold"], r["train_size"], r["val_size"], r["best_epoch"],
                         *[fmt(r["best"].get(n)) for n in names],
                         *[fmt(r["last"].get(n)) for n in names])
        agg = kfold_table(rows)
        if agg.get("folds", 0) > 1:
            for rep in agg.get("repeat_means", []):
                self.add_row(rep["repeat"], "mean", "", "", "",
                             *[fmt(rep["best"].get(n)) for n in names],
                             *[fmt(rep["last"].get(n)) for n in names])
            self.add_row("all", "mean", "", "", fmt(agg["mean"]["best_epoch"]),
                         *[fmt(agg["mean"]["best"].get(n)) for n in names],
                         *[fmt(agg["mean"]["last"].get(n)) for n in names])
            self.add_row("all", "std", "", "", "",
                         *[fmt(agg["std"]["best"].get(n)) for n in names],
                         *[fmt(agg["std"]["last"].get(n)) for n in names])
