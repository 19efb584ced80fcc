"""The benchmark workloads: each is an engine preset plus the same model written by hand."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, train_test_split
from torch import nn

from bench.reference import Task, standardise


@dataclass
class Workload:
    name: str
    preset: str | dict[str, Any]  # shipped preset name, or a preset as a dict
    overrides: list[str]
    build: Callable[[], nn.Module]
    samples_per_epoch: int = 0
    keras: bool = False
    width: int = 0  # a 2-hidden-layer MLP's width, for the experts' stacked peers
    info: dict[str, Any] = field(default_factory=dict)


def mlp(*sizes: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])
    return build


def convnet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


class LastState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 32, batch_first=True)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.out(h[-1])


TABULAR = {
    "name": "tabular-200k",
    "data": {"source": "builtin:tabular", "samples": 200_000, "features": 64, "classes": 10},
    "model": {"layers": [{"type": "Dense", "units": 256, "activation": "relu"},
                         {"type": "Dense", "units": 256, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], "epochs": 2,
              "batch_size": 256},
    "validation": {"val_fraction": 0.2},
}

WORKLOADS = [
    Workload("binary MLP, batch 32", "binary-breast-cancer", [], mlp(30, 16, 16, 1)),
    Workload("binary MLP, batch 512", "binary-breast-cancer", ["train.batch_size=512", "train.epochs=100"],
             mlp(30, 16, 16, 1)),
    Workload("convnet digits", "convnet-digits", [], convnet),
    Workload("LSTM sine", "lstm-sine", [], LastState),
    Workload("tabular 200k x 64, MLP 256-256, batch 256", TABULAR, [], mlp(64, 256, 256, 10)),
    Workload("diabetes K-fold (K=4, 10-64-64-1, batch 16, 100 epochs)", "kfold-diabetes",
             ["validation.final_fit=false", "validation.test_fraction=0", "train.epochs=100"],
             mlp(10, 64, 64, 1), keras=True, width=64),
]


def reference_tasks(prep: Any, build: Callable[[], nn.Module]) -> list[Task]:
    """The same splits as the preset asks for, made with scikit-learn directly."""
    d, p = prep.data, prep.preset
    t, v = p.train, p.validation
    x, y = d.x, d.y
    idx = np.arange(len(y))
    stratify = y if d.task != "regression" else None
    if v.scheme == "kfold":
        splits = list(KFold(v.k, shuffle=True, random_state=t.seed).split(idx))
    elif d.time_ordered:
        val_n = round(v.val_fraction * len(y))
        splits = [(idx[:-val_n], idx[-val_n:])]
    else:
        tr, va = train_test_split(idx, test_size=round(v.val_fraction * len(y)),
                                  random_state=t.seed, stratify=stratify)
        splits = [(np.sort(tr), np.sort(va))]
    tasks = []
    for i, (tr, va) in enumerate(splits):
        xt, xv = standardise(x[tr], x[va])
        tasks.append(Task(xt, y[tr], xv, y[va], d.task, build, t.epochs, t.batch_size,
                          t.learning_rate, t.seed + i))
    return tasks
