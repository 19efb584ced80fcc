"""What every layer spec shares: the base class with Keras-style `out_shape`/`build`, the shape
error, the activations (built for the shape they act on) and the axis Keras calls channels.

Shapes leave out the batch axis. Images are channels-first (C, H, W), videos (T, C, H, W),
sequences (T, F), token ids (T,). Keras lays images out channels-last, so where Keras acts on
"the last axis" (Dense, softmax) dltui acts on the channels axis these helpers name.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .fields import takes_bool

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
ActivationName = Literal[
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "prelu", "selu", "gelu", "leaky_relu"
]
PosInt = Annotated[int, Field(ge=1)]
# L1/L2 weight regularisation of a layer's kernel (the book's remedy for overfitting).
Penalty = Annotated[float, Field(ge=0.0, le=10.0)]
LEAKY_SLOPE = 0.2  # Keras's `leaky_relu` activation (torch's LeakyReLU: 0.01)
Initializer = Literal[
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "orthogonal", "uniform", "zeros", "ones", "torch",
]


class ShapeError(ValueError):
    """The layer cannot take the input shape it is given; the message says why."""


def channel_axis(shape: Shape) -> int:
    """The axis (batch left out) that Keras's channels-last layout puts last: the channels of
    an image (C, H, W) or a video (T, C, H, W), else the last axis."""
    return {3: 0, 4: 1}.get(len(shape), len(shape) - 1)


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

    def params(self, in_shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) parameters on this input, from the shapes alone (tested
        equal to the built module's). Most layers have none."""
        return 0, 0

    ALWAYS_SHOWN: ClassVar[tuple[str, ...]] = ()  # settings a table shows even at their default

    def describe(self) -> str:
        """Short label for tables: the type and its main settings."""
        set_ = self.model_dump(exclude_defaults=True)
        fields = {k: getattr(self, k) if k in self.ALWAYS_SHOWN else set_[k]
                  for k in type(self).model_fields
                  if k != "type" and (k in set_ or k in self.ALWAYS_SHOWN)}
        inner = ", ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.type}({inner})" if inner else self.type  # type: ignore[attr-defined]


def activation_params(name: str, shape: Shape) -> int:
    """Keras's PReLU learns one slope per element of its input; no other activation learns."""
    return math.prod(shape) if name == "prelu" else 0


def need_rank(layer: str, in_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(in_shape) not in ranks:
        raise ShapeError(f"{layer} needs {what}, got input shape {in_shape}")
