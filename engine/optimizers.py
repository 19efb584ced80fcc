"""Optimizer registry. RMSprop is the book's default; its rho and epsilon follow Keras."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from dltui.engine.spec import TrainSpec

Params = Iterable[torch.nn.Parameter]

OPTIMIZERS: dict[str, Callable[[Params, TrainSpec], torch.optim.Optimizer]] = {
    "rmsprop": lambda p, t: torch.optim.RMSprop(
        p, lr=t.learning_rate, alpha=0.9, eps=1e-7, momentum=t.momentum,
        weight_decay=t.weight_decay),
    "sgd": lambda p, t: torch.optim.SGD(
        p, lr=t.learning_rate, momentum=t.momentum, weight_decay=t.weight_decay),
    "adam": lambda p, t: torch.optim.Adam(
        p, lr=t.learning_rate, eps=1e-7, weight_decay=t.weight_decay),
    "adamw": lambda p, t: torch.optim.AdamW(
        p, lr=t.learning_rate, eps=1e-7, weight_decay=t.weight_decay),
}


def make_optimizer(params: Params, train: TrainSpec) -> torch.optim.Optimizer:
    return OPTIMIZERS[train.optimizer](params, train)
