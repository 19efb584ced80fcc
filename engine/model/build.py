"""Models built from layer specs: shapes inferred from the data alone, a Keras-style summary,
and the final sigmoid/softmax split off as the `head` so losses can work on logits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError
from .layers import LayerSpec, Shape, ShapeError
from .losses import Head, apply_head
from .resources import count_frozen, count_params


@dataclass(frozen=True)
class LayerRow:
    index: int
    label: str
    out_shape: Shape | None
    params: int  # trainable and non-trainable, as Keras's "Param #" column counts them
    error: str | None = None
    frozen: int = 0  # of those, non-trainable (BatchNorm's moving mean and variance)


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


def layer_rows(layers: Sequence[LayerSpec], in_shape: Shape) -> list[LayerRow]:
    """One row per layer; never raises: a layer that does not fit carries the reason and the
    layers after it have no shape (the app shows this while the user edits)."""
    rows: list[LayerRow] = []
    shape: Shape | None = in_shape
    for i, layer in enumerate(layers):
        if shape is None:
            rows.append(LayerRow(i, layer.describe(), None, 0, "input shape unknown"))
            continue
        try:
            out = layer.out_shape(shape)
            frozen = count_frozen(layer, shape)
            rows.append(LayerRow(i, layer.describe(), out, count_params(layer, shape) + frozen,
                                 frozen=frozen))
            shape = out
        except ShapeError as err:
            rows.append(LayerRow(i, layer.describe(), None, 0, f"input {shape}: {err}"))
            shape = None
    return rows


def infer_shapes(layers: Sequence[LayerSpec], in_shape: Shape) -> list[Shape]:
    """Every layer's output shape, or an InputError naming the first layer that does not fit."""
    shapes = []
    shape = in_shape
    for i, layer in enumerate(layers):
        if layer.type == "Embedding" and i != 0:  # type: ignore[attr-defined]
            raise InputError(f"model.layers[{i}] (Embedding): must be the first layer; "
                             "it reads token ids from the data")
        try:
            shape = layer.out_shape(shape)
        except ShapeError as err:
            raise InputError(f"model.layers[{i}] ({layer.type}): input shape {shape}: {err}") from None  # type: ignore[attr-defined]
        shapes.append(shape)
    return shapes


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
