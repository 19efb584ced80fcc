"""What every layer spec shares: the base class with Keras-style `out_shape`/`build`, the shape
error, the activations (built for the shape they act on) and the axis Keras calls channels.

Shapes leave out the batch axis. Images are channels-first (C, H, W), videos (T, C, H, W),
sequences (T, F), token ids (T,). Keras lays images out channels-last, so where Keras acts on
"the last axis" (Dense, softmax) dltui acts on the channels axis these helpers name.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from .fields import takes_bool

Shape = tuple[int, ...]
ActivationName = Literal[
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "prelu", "selu", "gelu", "leaky_relu"
]
PosInt = Annotated[int, Field(ge=1)]
# L1/L2 weight regularisation of a layer's kernel (the book's remedy for overfitting).
Penalty = Annotated[float, Field(ge=0.0, le=10.0)]
LEAKY_SLOPE = 0.2  # Keras's `leaky_relu` activation (torch's LeakyReLU: 0.01)


class ShapeError(ValueError):
    """The layer cannot take the input shape it is given; the message says why."""


def channel_axis(shape: Shape) -> int:
    """The axis (batch left out) that Keras's channels-last layout puts last: the channels of
    an image (C, H, W) or a video (T, C, H, W), else the last axis."""
    return {3: 0, 4: 1}.get(len(shape), len(shape) - 1)


class OnChannels(nn.Module):
    """Runs a last-axis module (a Dense's nn.Linear) on the channels of an image or video, as
    Keras's Dense does on its channels-last tensors. `dim` counts the batch axis."""

    def __init__(self, inner: nn.Module, dim: int) -> None:
        super().__init__()
        self.inner, self.dim = inner, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.movedim(self.dim, -1)).movedim(-1, self.dim)


class PReLU(nn.Module):
    """Keras's PReLU: one learned slope per element of the input (no shared axes), starting at
    zero (so it starts as relu). torch's nn.PReLU shares one slope starting at 0.25."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, self.weight * x)


def activation_modules(name: str, shape: Shape) -> list[nn.Module]:
    """The activation's module for inputs of `shape` (none for linear)."""
    if name == "linear":
        return []
    if name == "prelu":
        return [PReLU(shape)]
    if name == "leaky_relu":
        return [nn.LeakyReLU(LEAKY_SLOPE)]
    if name == "softmax":
        axis = channel_axis(shape)
        return [nn.Softmax(dim=-1 if axis == len(shape) - 1 else axis + 1)]
    return [_SIMPLE[name]()]


_SIMPLE: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU, "selu": nn.SELU,
    "gelu": nn.GELU,
}


class LayerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _strict_numbers(cls, data: object) -> object:
        # A field validator cannot run on `type` (the union's discriminator): check them here.
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and not takes_bool(field.annotation):
                    raise ValueError(f"{name}: expected a number, not true/false")
        return data

    def out_shape(self, in_shape: Shape) -> Shape:
        raise NotImplementedError

    def build(self, in_shape: Shape) -> list[nn.Module]:
        raise NotImplementedError

    ALWAYS_SHOWN: ClassVar[tuple[str, ...]] = ()  # settings a table shows even at their default

    def describe(self) -> str:
        """Short label for tables: the type and its main settings."""
        set_ = self.model_dump(exclude_defaults=True)
        fields = {k: getattr(self, k) if k in self.ALWAYS_SHOWN else set_[k]
                  for k in type(self).model_fields
                  if k != "type" and (k in set_ or k in self.ALWAYS_SHOWN)}
        inner = ", ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.type}({inner})" if inner else self.type  # type: ignore[attr-defined]


def need_rank(layer: str, in_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(in_shape) not in ranks:
        raise ShapeError(f"{layer} needs {what}, got input shape {in_shape}")
