"""A model's shapes and counts from its layer specs alone, without torch: every layer's output
shape, its parameters (Keras's "Param #"), the first layer that does not fit. The builder
previews these as the user types and `dltui summary` prints them, neither waiting for torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from .layers import LayerSpec, Shape, ShapeError


@dataclass(frozen=True)
class LayerRow:
    index: int
    label: str
    out_shape: Shape | None
    params: int  # trainable and non-trainable, as Keras's "Param #" column counts them
    error: str | None = None
    frozen: int = 0  # of those, non-trainable (BatchNorm's moving mean and variance)


def count_params(layer: LayerSpec, in_shape: Shape) -> int:
    """The layer's trainable parameters."""
    return layer.params(in_shape)[0]


def count_frozen(layer: LayerSpec, in_shape: Shape) -> int:
    """What Keras's summary calls non-trainable parameters: the saved floating-point state that
    is not trained (BatchNorm's moving mean and variance; not torch's batch counter)."""
    return layer.params(in_shape)[1]


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
