"""What a run's fold histories add up to: the K-fold table, the book's averaged validation curve,
and the spread of hold-out scores over reshuffles."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..model.metrics import HIGHER_IS_BETTER
from .loop import FoldOutcome


def fold_row(out: FoldOutcome) -> dict[str, Any]:
    return {
        "repeat": out.info.repeat, "fold": out.info.fold,
        "train_size": out.info.train_size, "val_size": out.info.val_size,
        "best_epoch": out.best_epoch, "epochs_run": len(out.history),
        "best": out.best, "last": out.last,
    }


def _mean_std(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = [k for k in rows[0] if all(k in r for r in rows)] if rows else []
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    std = {k: statistics.pstdev([r[k] for r in rows]) if len(rows) > 1 else 0.0 for k in keys}
    return mean, std


def kfold_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over folds, at each fold's best epoch and at its last; per-repeat means too."""
    done = [r for r in rows if r["best"]]
    if not done:
        return {}
    best_mean, best_std = _mean_std([r["best"] for r in done])
    last_mean, last_std = _mean_std([r["last"] for r in done])
    table: dict[str, Any] = {
        "folds": len(done),
        "mean": {"best": best_mean, "last": last_mean,
                 "best_epoch": statistics.fmean(r["best_epoch"] for r in done)},
        "std": {"best": best_std, "last": last_std},
    }
    repeats = sorted({r["repeat"] for r in done})
    if len(repeats) > 1:
        table["repeat_means"] = [
            {"repeat": rep, "best": _mean_std([r["best"] for r in done if r["repeat"] == rep])[0],
             "last": _mean_std([r["last"] for r in done if r["repeat"] == rep])[0]}
            for rep in repeats]
    return table


def smooth(values: list[float], factor: float) -> list[float]:
    """The book's exponential moving average: each point is factor * previous + (1 - factor) * it."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else out[-1] * factor + v * (1 - factor))
    return out


TIE = 1e-9  # two averaged scores this close are equal (accuracy moves in steps of 1/n)


def averaged_curve(outcomes: list[FoldOutcome], metric: str, smoothing: float) -> dict[str, Any]:
    """Per epoch, the mean validation `metric` over the folds, over the epochs every fold reached:
    past the first fold to stop early, a mean would be of the folds still running, and its best
    epoch could be one fold's value. Ties on the metric (accuracy is flat for stretches) go to
    the epoch with the lower averaged validation loss, as the book reads its loss curves."""
    done = [o for o in outcomes if o.history]
    if not done:
        return {}
    common = min(len(o.history) for o in done)
    longest = max(len(o.history) for o in done)

    def mean_of(name: str) -> list[float]:
        return [statistics.fmean(o.history[e][1].get(name, math.nan) for o in done)
                for e in range(common)]

    values = mean_of(metric)
    smoothed = smooth(values, smoothing) if smoothing else values
    pick = max if HIGHER_IS_BETTER.get(metric, False) else min
    valid = [e for e, v in enumerate(smoothed) if not math.isnan(v)] or [0]
    best = pick(smoothed[e] for e in valid)
    tied = [e for e in valid if abs(smoothed[e] - best) <= TIE * max(1.0, abs(best))] or valid[:1]
    best_index = tied[0]
    if len(tied) > 1 and metric != "loss":
        losses = mean_of("loss")
        best_index = min(tied, key=lambda e: (losses[e], e))
    out: dict[str, Any] = {"metric": metric, "smoothing": smoothing, "values": values,
                           "smoothed": smoothed, "best_epoch": best_index + 1,
                           "best_value": smoothed[best_index], "epochs": common,
                           "folds": len(done)}
    if longest > common:
        stopped = sum(len(o.history) < longest for o in done)
        out["note"] = (f"averaged over the {common} epochs every fold reached ({stopped} of "
                       f"{len(done)} folds stopped before epoch {longest})")
    if len(tied) > 1 and metric != "loss":
        out["tie"] = (f"val {metric} was equal at epochs {tied[0] + 1}-{tied[-1] + 1}; epoch "
                      f"{best_index + 1} has the lowest averaged validation loss")
    return out


def holdout_spread(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The book's check of whether one hold-out split is enough: how much the validation score
    moves when only the shuffle changes."""
    scores = [r["best"][metric] for r in rows if metric in r["best"]]
    if len(scores) < 2:
        return {}
    mean = statistics.fmean(scores)
    std = statistics.pstdev(scores)
    spread = max(scores) - min(scores)
    relative = spread / abs(mean) if mean else math.inf
    wide = relative > 0.05
    advice = (f"the validation {metric} moves by {spread:.4g} between shuffles "
              f"({relative:.1%} of its mean): one hold-out split is not a reliable estimate; "
              "use K-fold (validation.scheme = 'kfold')" if wide else
              f"the validation {metric} is stable across shuffles (spread {spread:.4g}, "
              f"{relative:.1%} of its mean): hold-out is enough here")
    return {"metric": metric, "scores": scores, "min": min(scores), "mean": mean,
            "max": max(scores), "std": std, "wide": wide, "advice": advice}
