"""Loss registry: each loss knows the target form it needs and which task/last layer it fits.

Crossentropies are computed from the logits before the final sigmoid/softmax (as Keras does inside),
which is exact and numerically safe; the model still outputs probabilities to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dltui.engine.layers import Shape

Head = str | None  # "sigmoid", "softmax" or None: the final activation split off the model


@dataclass(frozen=True)
class Loss:
    name: str
    target: str  # "column" (float, B x 1 or B x k), "index" (int class ids), "one_hot"
    tasks: tuple[str, ...]
    head: Head  # the final activation this loss needs, or None for any
    per_sample: Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]
    mean: Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]


def _apply_head(logits: torch.Tensor, head: Head) -> torch.Tensor:
    if head == "sigmoid":
        return torch.sigmoid(logits)
    if head == "softmax":
        return torch.softmax(logits, dim=-1)
    return logits


def _bce(reduction: str) -> Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]:
    def fn(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
        out = F.binary_cross_entropy_with_logits(logits, y, reduction=reduction)
        return out if reduction == "mean" else out.flatten(1).mean(1)
    return fn


def _cce(reduction: str) -> Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]:
    def fn(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
        classes = logits.shape[-1]
        flat_y = y.reshape(-1, classes) if y.is_floating_point() else y.reshape(-1)
        out = F.cross_entropy(logits.reshape(-1, classes), flat_y, reduction=reduction)
        return out if reduction == "mean" else out.reshape(logits.shape[0], -1).mean(1)
    return fn


def _pointwise(kind: str, reduction: str) -> Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]:
    base = F.mse_loss if kind == "mse" else F.l1_loss

    def fn(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
        out = base(_apply_head(logits, head), y, reduction=reduction)
        return out if reduction == "mean" else out.flatten(1).mean(1)
    return fn


LOSSES: dict[str, Loss] = {
    "binary_crossentropy": Loss(
        "binary_crossentropy", "column", ("binary",), "sigmoid", _bce("none"), _bce("mean")),
    "categorical_crossentropy": Loss(
        "categorical_crossentropy", "one_hot", ("binary", "multiclass"), "softmax",
        _cce("none"), _cce("mean")),
    "sparse_categorical_crossentropy": Loss(
        "sparse_categorical_crossentropy", "index", ("binary", "multiclass"), "softmax",
        _cce("none"), _cce("mean")),
    "mse": Loss("mse", "column", ("regression",), None, _pointwise("mse", "none"),
                _pointwise("mse", "mean")),
    "mae": Loss("mae", "column", ("regression",), None, _pointwise("mae", "none"),
                _pointwise("mae", "mean")),
}

_ADVICE = {
    "binary": "binary_crossentropy with a final Dense(1, activation='sigmoid')",
    "multiclass": "sparse_categorical_crossentropy (integer labels) or categorical_crossentropy "
                  "(one-hot) with a final Dense(n_classes, activation='softmax')",
    "regression": "mse or mae with a final Dense(1) and no activation",
}


def check_pairing(loss: Loss, task: str, out_shape: Shape, head: Head, n_outputs: int) -> str | None:
    """Why this loss cannot train this model on this task, or None when it can."""
    if task not in loss.tasks:
        return f"{loss.name} does not fit a {task} target; use {_ADVICE[task]}"
    if loss.head is not None and head != loss.head:
        return (f"{loss.name} needs a final {loss.head} activation, the model ends with "
                f"{head or 'no activation'}; use {_ADVICE[task]}")
    if out_shape[-1] != n_outputs:
        return (f"the model outputs {out_shape[-1]} value(s) per sample but the {task} target "
                f"needs {n_outputs} for {loss.name}")
    return None
