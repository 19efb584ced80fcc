"""A finished run's results as rich renderables: the K-fold table, the hold-out result, the
averaged curve's best epoch, the final fit and the test score. Plain text when not on a terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def kfold_cells(rows: list[dict[str, Any]], agg: dict[str, Any]
                ) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The K-fold table's contents for any face: the metric names, one row of cells per fold,
    then the rows below the line (per-repeat means, mean, std). Each row: repeat, fold, train
    size, validation size, best epoch, every metric at the best epoch, every metric at the last."""
    names = next((list(r["best"]) for r in rows if r.get("best")), ["loss"])

    def metrics(best: dict[str, float], last: dict[str, float]) -> list[str]:
        return [fmt(best.get(n)) for n in names] + [fmt(last.get(n)) for n in names]

    folds = [[str(r["repeat"]), str(r["fold"]), str(r["train_size"]), str(r["val_size"]),
              str(r["best_epoch"]), *metrics(r["best"], r["last"])] for r in rows]
    below: list[list[str]] = []
    if agg.get("folds", 0) > 1:
        below += [[str(rep["repeat"]), "mean", "", "", "", *metrics(rep["best"], rep["last"])]
                  for rep in agg.get("repeat_means", [])]
        below.append(["all", "mean", "", "", fmt(agg["mean"]["best_epoch"]),
                      *metrics(agg["mean"]["best"], agg["mean"]["last"])])
        below.append(["all", "std", "", "", "", *metrics(agg["std"]["best"], agg["std"]["last"])])
    return names, folds, below


def kfold_table(summary: dict[str, Any], ascii_only: bool = False) -> Table:
    """One row per fold, then mean and std (and per-repeat means for iterated K-fold)."""
    names, folds, below = kfold_cells(summary.get("folds", []), summary.get("kfold") or {})
    table = Table(title="Validation by fold", box=box.ASCII if ascii_only else box.SIMPLE_HEAD,
                  title_justify="left")
    for col in ("repeat", "fold", "train", "val", "best epoch",
                *[f"val {n} @best" for n in names], *[f"val {n} @last" for n in names]):
        table.add_column(col, justify="right")
    for cells in folds:
        table.add_row(*cells)
    if below:
        table.add_section()
        for cells in below:
            table.add_row(*cells, style="bold" if cells[:2] == ["all", "mean"] else None)
    return table


def result_lines(summary: dict[str, Any]) -> list[str]:
    metric = summary.get("primary_metric", "loss")
    lines = []
    curve = summary.get("averaged_curve") or {}
    folds = (summary.get("kfold") or {}).get("folds", 0)
    if curve and folds > 1:
        smoothed = f", smoothed {curve['smoothing']:g}" if curve.get("smoothing") else ""
        lines.append(f"averaged validation {curve['metric']} curve{smoothed}: best at epoch "
                     f"{curve['best_epoch']} ({fmt(curve['best_value'])}): train about that many "
                     "epochs")
    if summary.get("scheme") == "holdout" and summary.get("val"):
        val = ", ".join(f"{k} {fmt(v)}" for k, v in summary["val"].items())
        lines.append(f"best epoch {summary['best_epoch']} by validation loss: val {val}")
    spread = summary.get("holdout_spread")
    if spread:
        lines.append(f"hold-out over {len(spread['scores'])} shuffles: val {spread['metric']} "
                     f"min {fmt(spread['min'])} mean {fmt(spread['mean'])} max {fmt(spread['max'])}"
                     f" std {fmt(spread['std'])}; {spread['advice']}")
    final = summary.get("final_fit")
    if final and final.get("test"):
        lines.append(f"final fit on all {summary.get('test_size', 0) and 'non-test '}data for "
                     f"{final['epochs']} epochs: test {metric} {fmt(final['test'].get(metric))}, "
                     f"test loss {fmt(final['test'].get('loss'))}")
        if folds > 1:
            est = summary["kfold"]["mean"]["best"].get(metric)
            lines.append(f"K-fold estimate: val {metric} {fmt(est)}; test score: {metric} "
                         f"{fmt(final['test'].get(metric))}")
    elif summary.get("test"):
        test = ", ".join(f"{k} {fmt(v)}" for k, v in summary["test"].items())
        lines.append(f"test part ({summary.get('test_size')} samples): {test}")
    doctor = summary.get("advice")
    if isinstance(doctor, dict) and doctor.get("next"):
        epochs = f"train about {doctor['epochs']} epochs; " if doctor.get("epochs") else ""
        lines.append(f"doctor: {epochs}next: {doctor['next']}")
    return lines


def render_summary(summary: dict[str, Any], ascii_only: bool = False) -> RenderableType:
    parts: list[RenderableType] = []
    folds = (summary.get("kfold") or {}).get("folds", 0)
    if folds > 1 or summary.get("scheme") != "holdout":
        parts.append(kfold_table(summary, ascii_only))
    parts += [Text(line) for line in result_lines(summary)]
    status = summary.get("status", "?")
    style = "green" if status == "done" else "yellow" if status == "stopped" else "red"
    tail = f": {summary['message']}" if summary.get("message") else ""
    parts.append(Text(f"status {status}{tail}", style=style))
    return Group(*parts)
