"""The decisions of the book's universal workflow (ch. 4), each a small rule on numbers:
the common-sense baseline on the run's own splits, whether a model beats it, where an averaged
validation curve turns (the model overfits), and the variants each step tries."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from .plan import LOWER_IS_BETTER


def baseline(prep: Any) -> dict[str, Any]:
    """The score a model must beat, on the same validation parts the models are scored on:
    the majority class (classification), the training mean (regression), or for time-ordered
    data "tomorrow = today" (each validation target predicted by the one before it)."""
    y, task, metric = prep.data.y, prep.data.task, prep.primary_metric
    scores = []
    for split in prep.plan.splits:
        train, val = y[split.train_idx], y[split.val_idx]
        if task in ("binary", "multiclass"):
            classes, counts = np.unique(train, return_counts=True)
            majority = classes[np.argmax(counts)]
            if metric == "accuracy":
                scores.append(float(np.mean(val == majority)))
            else:  # crossentropy of predicting the training class frequencies
                prior = dict(zip(classes.tolist(), (counts / counts.sum()).tolist(), strict=True))
                scores.append(float(np.mean([-math.log(prior.get(v, 1e-7)) for v in val.tolist()])))
            continue
        if prep.data.time_ordered:
            guess = y[np.maximum(np.asarray(split.val_idx) - 1, 0)].astype(np.float64)
        else:
            guess = np.full(len(val), float(np.mean(train)))
        error = np.asarray(val, dtype=np.float64).reshape(len(val), -1).mean(1) - guess.reshape(
            len(val), -1).mean(1)
        scores.append(float(np.mean(np.abs(error)) if metric == "mae" else np.mean(error ** 2)))
    what = ("always the most frequent class" if task in ("binary", "multiclass") else
            "tomorrow = today" if prep.data.time_ordered else "the training mean")
    return {"metric": metric, "score": float(np.mean(scores)), "what": what,
            "per_split": scores}


def better(a: float, b: float, metric: str) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def beats(scores: list[float], base: dict[str, Any]) -> bool:
    """A model beats the baseline beyond noise: on the same validation parts (a paired
    comparison), its mean gain exceeds twice the gain's standard error, and 1 % of the
    baseline's score."""
    if not scores or not all(math.isfinite(s) for s in scores):
        return False
    sign = -1 if base["metric"] in LOWER_IS_BETTER else 1
    reference = base.get("per_split") or [base["score"]] * len(scores)
    gains = np.array([sign * (s - b) for s, b in zip(scores, reference, strict=False)])
    noise = 2 * gains.std(ddof=1) / math.sqrt(len(gains)) if len(gains) > 1 else 0.0
    return bool(gains.mean() > max(abs(base["score"]) * 0.01, noise))


def overfit_epoch(row: dict[str, Any], epochs: int) -> int | None:
    """The epoch where validation loss stops improving, when it does so in the first three
    quarters of the epochs (the curve turns up: the model overfits from there); None while it
    still improves."""
    turn = row.get("val_loss_min_epoch") or row.get("best_epoch")
    if not turn:
        return None
    turn = round(turn)
    # In the last quarter the curve may just be flattening out: that is not yet overfitting.
    return turn if turn <= 0.75 * epochs else None


def _hidden(raw: dict[str, Any]) -> list[int]:
    """Indices of the layers a workflow resizes: every layer with units or filters but the last."""
    layers = raw["model"]["layers"]
    return [i for i, layer in enumerate(layers[:-1]) if "units" in layer or "filters" in layer]


def resized(raw: dict[str, Any], factor: float) -> list[dict[str, Any]]:
    layers = copy.deepcopy(raw["model"]["layers"])
    for i in _hidden(raw):
        key = "units" if "units" in layers[i] else "filters"
        layers[i][key] = max(1, round(layers[i][key] * factor))
    return layers


def deeper(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One more copy of the last hidden layer, before the output layer."""
    if len(layers) < 2:
        return copy.deepcopy(layers)
    return [*copy.deepcopy(layers[:-1]), copy.deepcopy(layers[-2]), copy.deepcopy(layers[-1])]


def scale_up_variants(raw: dict[str, Any], round_: int) -> list[dict[str, Any]]:
    """The book: add layers, make them bigger, train for more epochs, until the model overfits.
    Each round four times wider than the last."""
    epochs = raw["train"].get("epochs", 20)
    wide = resized(raw, 4 ** round_)
    return [{"name": f"wider x{4 ** round_}", "model.layers": wide},
            {"name": f"deeper, wider x{4 ** round_}", "model.layers": deeper(wide)},
            {"name": f"deeper, wider x{4 ** round_}, longer", "model.layers": deeper(wide),
             "train.epochs": epochs * 2}]


def regularise_variants(raw: dict[str, Any], turn: int) -> list[dict[str, Any]]:
    """The book's remedies for overfitting, side by side: fewer epochs, a smaller network,
    L2 weight regularisation, dropout, and the last two together."""
    layers = raw["model"]["layers"]
    hidden = set(_hidden(raw))
    with_l2 = [dict(layer, l2=0.001) if i in hidden and layer.get("type") in (
        "Dense", "Conv2D", "Conv3D", "LSTM", "GRU") else dict(layer) for i, layer in enumerate(layers)]

    def dropped(source: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, layer in enumerate(source):
            out.append(dict(layer))
            if i in hidden and layer.get("type") == "Dense":
                out.append({"type": "Dropout", "rate": 0.5})
        return out

    return [{"name": "as it is"},
            {"name": f"fewer epochs ({turn})", "train.epochs": max(1, turn)},
            {"name": "smaller (half the units)", "model.layers": resized(raw, 0.5)},
            {"name": "L2 0.001", "model.layers": with_l2},
            {"name": "dropout 0.5", "model.layers": dropped(layers)},
            {"name": "dropout 0.5 + L2 0.001", "model.layers": dropped(with_l2)}]
