"""Models built from layer specs: shapes inferred from the data alone, a Keras-style summary,
and the final sigmoid/softmax split off as the `head` so losses can work on logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import LayerSpec, Shape
from .losses import Head, apply_head
from .shapes import infer_shapes


class Net(nn.Module):
    def __init__(self, modules: list[nn.Module],
                 penalised: dict[int, tuple[float, float]] | None = None) -> None:
        super().__init__()
        # body index -> (l1, l2) for layers whose kernel weights are regularised
        self.penalised = penalised or {}
        self.head: Head = None
        # A softmax over an image's channels (not the last axis) is not a classifier's head.
        last = modules[-1] if modules else None
        if isinstance(last, nn.Sigmoid) or (isinstance(last, nn.Softmax) and last.dim == -1):
            self.head = "sigmoid" if isinstance(modules.pop(), nn.Sigmoid) else "softmax"
        self.body = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: the output before the final sigmoid/softmax."""
        return self.body(x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return apply_head(self.body(x), self.head)

    def penalty(self) -> torch.Tensor | None:
        return weight_penalty(self.body, self.penalised)


def weight_penalty(body: nn.Module, penalised: dict[int, tuple[float, float]]) -> torch.Tensor | None:
    """The L1/L2 term added to the training loss: l1 * sum|w| + l2 * sum(w^2) over each
    regularised layer's kernels (weights, not biases, as Keras' kernel_regularizer). For stacked
    models it sums over the members, whose gradients stay their own."""
    total = None
    for index, (l1, l2) in penalised.items():
        for name, w in body[index].named_parameters():
            if "weight" not in name:
                continue
            term = (l1 * w.abs().sum() if l1 else 0) + (l2 * w.square().sum() if l2 else 0)
            total = term if total is None else total + term
    return total


def build_model(layers: Sequence[LayerSpec], in_shape: Shape, device: str | None = None) -> Net:
    """The model; `device="meta"` builds it without allocating (for counting and checks)."""
    if device is not None:
        with torch.device(device):
            return build_model(layers, in_shape)
    infer_shapes(layers, in_shape)
    modules: list[nn.Module] = []
    penalised: dict[int, tuple[float, float]] = {}
    shape = in_shape
    for layer in layers:
        inner = layer.layer if layer.type == "TimeDistributed" else layer  # type: ignore[attr-defined]
        l1, l2 = getattr(inner, "l1", 0.0), getattr(inner, "l2", 0.0)
        if l1 or l2:
            penalised[len(modules)] = (l1, l2)
        modules += layer.build(shape)
        shape = layer.out_shape(shape)
    return Net(modules, penalised)
