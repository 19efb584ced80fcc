"""`dltui init`: a first preset written from the data alone, each choice made by the book's rule
for it (ch. 4, "the universal workflow"), and checked by the doctor before it is offered.

The rules: the task follows from the target; the last layer and the loss from the task (sigmoid
and binary crossentropy, softmax and sparse categorical crossentropy, no activation and mse); the
metric the book reports (accuracy, MAE); features normalised on the training part; the protocol
from the data's size and order (K-fold below about a thousand training samples, forward chaining
for time-ordered rows, hold-out above); a small network to start from (16-16 for
classification, 64-64 for regression, as the book's IMDB and Boston models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..spec import DataSpec, Preset

SMALL_DATA = 1000  # training samples below which one hold-out split is too noisy (the book)


@dataclass(frozen=True)
class Choice:
    key: str
    value: Any
    why: str


def starter(source: str, target: str | None, base_dir: Path | None = None,
            time_ordered: bool = False, name: str = "") -> tuple[Preset, list[Choice]]:
    """A preset for `source` predicting `target`, and why each setting is what it is."""
    from ..data.dataset import load_data
    from .examine import examine

    kind = source.partition(":")[0]
    tabular = kind in ("csv", "parquet", "feather")
    if tabular and not target:
        raise InputError("--target: name the column to predict (a table has no 'y' of its own)")
    spec = DataSpec(source=source, target=target if tabular else None, missing="mean",
                    time_ordered=time_ordered)
    data = load_data(spec, base_dir)
    gaps = bool(np.issubdtype(data.x.dtype, np.floating) and np.isnan(data.x).any())
    choices: list[Choice] = [
        Choice("data.task", data.task, _task_reason(data)),
        Choice("data.missing", "mean" if gaps else "error",
               "some feature cells are empty: each is filled with its column's mean over the "
               "training rows only (never the validation rows)" if gaps else
               "no cell is empty: a file with a gap is refused rather than guessed at"),
        Choice("data.normalize", True, "the book: features of different ranges make learning "
               "harder; each is centred and scaled with statistics of the training part only"),
    ]
    choices += _head(data)
    choices += _protocol(data, time_ordered)
    raw = _raw(source, target if tabular else None, choices, name or _stem(source))
    preset = Preset.model_validate(raw)
    worst = [f for f in examine(preset, data) if f.severity in ("error", "warning")]
    if worst:  # a starting point the doctor would flag is no starting point
        f = worst[0]
        raise InputError(f"init: the preset written for this data fails the doctor's check "
                         f"({f.where}: {f.message})")
    return preset, choices


def _stem(source: str) -> str:
    return Path(source.partition(":")[2]).stem or "my-model"


def _task_reason(data: Any) -> str:
    if data.task == "regression":
        return "the target is numbers, not classes: scalar regression"
    n = len(data.classes)
    return (f"the target has {n} classes ({', '.join(map(str, data.classes[:4]))}"
            f"{', ...' if n > 4 else ''}): " + ("binary classification" if n == 2 else
                                                "single-label multiclass classification"))


def _head(data: Any) -> list[Choice]:
    if data.task == "binary":
        last, loss, metric, hidden = ("Dense 1 sigmoid", "binary_crossentropy", "accuracy", 16)
        why = "one sigmoid unit gives the probability of the positive class; binary crossentropy is its loss"
    elif data.task == "multiclass":
        last = f"Dense {len(data.classes)} softmax"
        loss, metric, hidden = "sparse_categorical_crossentropy", "accuracy", 16
        why = ("a softmax over the classes gives a probability each; with integer labels the loss "
               "is sparse categorical crossentropy")
    else:
        last, loss, metric, hidden = "Dense 1", "mse", "mae", 64
        why = "one unit with no activation, so it can output any value; mse is the regression loss"
    return [
        Choice("model.layers", f"Dense {hidden} relu, Dense {hidden} relu, {last}",
               f"a small network to start (the book's {'IMDB' if hidden == 16 else 'Boston'} "
               f"model): scale it up until it overfits; {why}"),
        Choice("train.loss", loss, why),
        Choice("train.metrics", [metric], "the book's metric for the task: " +
               ("the fraction classified right" if metric == "accuracy" else
                "the mean absolute error, in the target's own units")),
        Choice("train.optimizer", "rmsprop", "the book's default optimizer, at its default rate 1e-3"),
        Choice("train.epochs", 20 if hidden == 16 else 100,
               "enough to see where the validation curve turns; the curve picks the count"),
    ]


def _protocol(data: Any, time_ordered: bool) -> list[Choice]:
    n = len(data)
    if time_ordered:
        return [Choice("validation.scheme", "kfold",
                       "the rows are in time order: forward chaining, each fold trained on the "
                       "past and validated on what comes after (the arrow of time; no shuffling)"),
                Choice("validation.test_fraction", 0.2, "the most recent fifth is kept for one "
                       "final test, after every choice is made")]
    train = int(n * 0.8)
    if train < SMALL_DATA:
        return [Choice("validation.scheme", "kfold",
                       f"about {train} training samples: one hold-out split would be noisy, so "
                       "K-fold (k = 4) averages four validation scores (the book's Boston)"),
                Choice("validation.test_fraction", 0.2,
                       "a fifth kept aside and scored once, at the end"),
                Choice("validation.final_fit", True, "after K-fold, the model is trained on all "
                       "non-test data for the epochs the averaged curve chose, then tested once")]
    return [Choice("validation.scheme", "holdout",
                   f"{train:,} training samples: a hold-out split of a fifth is a stable estimate"),
            Choice("validation.test_fraction", 0.2,
                   "a fifth kept aside and scored once, at the end")]


def _raw(source: str, target: str | None, choices: list[Choice], name: str) -> dict[str, Any]:
    by = {c.key: c.value for c in choices}
    layers = []
    for part in by["model.layers"].split(", "):
        words = part.split()
        layer: dict[str, Any] = {"type": "Dense", "units": int(words[1])}
        if len(words) > 2:
            layer["activation"] = words[2]
        layers.append(layer)
    data: dict[str, Any] = {"source": source, "missing": by["data.missing"], "normalize": True}
    if target:
        data["target"] = target
    validation = {k.split(".", 1)[1]: v for k, v in by.items() if k.startswith("validation.")}
    if by["validation.scheme"] == "kfold":
        validation["k"] = 4
    if "time_ordered" in by.get("validation.scheme", "") or \
            "arrow of time" in next(c.why for c in choices if c.key == "validation.scheme"):
        data["time_ordered"] = True
    return {"name": name, "description": f"written by dltui init from {Path(source.partition(':')[2]).name}",
            "data": data, "model": {"layers": layers},
            "train": {"loss": by["train.loss"], "metrics": by["train.metrics"],
                      "optimizer": by["train.optimizer"], "learning_rate": 0.001,
                      "epochs": by["train.epochs"], "batch_size": 32},
            "validation": validation}
