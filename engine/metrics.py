"""Metric registry. A metric gives one value per sample, on the device; the loop sums them per batch
and divides once per epoch, so reading a metric never forces a host sync inside the batch loop.

`lead` is the number of leading batch axes: 1 for one model, 2 for K stacked models (K, B, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dltui.engine.losses import Head, _apply_head

MetricFn = Callable[[torch.Tensor, torch.Tensor, Head, str, int], torch.Tensor]


def _per_sample(values: torch.Tensor, lead: int) -> torch.Tensor:
    return values.flatten(lead).mean(-1) if values.dim() > lead else values


def _predicted_class(logits: torch.Tensor, head: Head) -> torch.Tensor:
    if head == "sigmoid":
        return (logits > 0).squeeze(-1)
    return logits.argmax(-1)


def _true_class(y: torch.Tensor, form: str) -> torch.Tensor:
    if form == "one_hot":
        return y.argmax(-1)
    if form == "column":
        return (y > 0.5).squeeze(-1)
    return y


def accuracy(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    hits = (_predicted_class(logits, head) == _true_class(y, form)).float()
    return _per_sample(hits, lead)


def mae(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    return _per_sample((_apply_head(logits, head) - y).abs(), lead)


def mse(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    return _per_sample((_apply_head(logits, head) - y).square(), lead)


METRICS: dict[str, MetricFn] = {"accuracy": accuracy, "mae": mae, "mse": mse}

# Which way is better, for picking the best epoch of a curve.
HIGHER_IS_BETTER = {"accuracy": True, "mae": False, "mse": False, "loss": False}


def is_better(metric: str, new: float, old: float) -> bool:
    return new > old if HIGHER_IS_BETTER.get(metric, False) else new < old
