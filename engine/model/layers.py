"""Layer specs: each knows its output shape and builds its torch module (Keras' compute_output_shape).

Shapes leave out the batch axis. Images are channels-first (C, H, W), sequences (T, F), token ids (T,).
`summary`, the app's live shapes and the model itself all go through `out_shape`/`build`, so they
can never disagree.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from .activations import ACTIVATIONS
from .dropout import MemberDropout
from .fields import takes_bool

Shape = tuple[int, ...]
ActivationName = Literal[
    "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "prelu", "selu", "gelu", "leaky_relu"
]
PosInt = Annotated[int, Field(ge=1)]
# L1/L2 weight regularisation of a layer's kernel (the book's remedy for overfitting).
Penalty = Annotated[float, Field(ge=0.0, le=10.0)]


class ShapeError(ValueError):
    """The layer cannot take the input shape it is given; the message says why."""


def _activation(name: str) -> list[nn.Module]:
    return [] if name == "linear" else [ACTIVATIONS[name]()]


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


def _need_rank(layer: str, in_shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(in_shape) not in ranks:
        raise ShapeError(f"{layer} needs {what}, got input shape {in_shape}")


class Dense(LayerSpec):
    type: Literal["Dense"] = "Dense"
    l1: Penalty = 0.0
    l2: Penalty = 0.0
    units: PosInt
    activation: ActivationName = "linear"
    use_bias: bool = True

    def out_shape(self, in_shape: Shape) -> Shape:
        if not in_shape:
            raise ShapeError("Dense needs at least one feature axis")
        return (*in_shape[:-1], self.units)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [nn.Linear(in_shape[-1], self.units, bias=self.use_bias), *_activation(self.activation)]


class Activation(LayerSpec):
    type: Literal["Activation"] = "Activation"
    activation: ActivationName

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return _activation(self.activation) or [nn.Identity()]


class Dropout(LayerSpec):
    type: Literal["Dropout"] = "Dropout"
    rate: Annotated[float, Field(ge=0.0, lt=1.0)]

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [MemberDropout(self.rate)]


class Flatten(LayerSpec):
    type: Literal["Flatten"] = "Flatten"

    def out_shape(self, in_shape: Shape) -> Shape:
        n = 1
        for d in in_shape:
            n *= d
        return (n,)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [nn.Flatten()]


def _conv_len(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return size
    return (size - kernel) // stride + 1


class Conv2D(LayerSpec):
    type: Literal["Conv2D"] = "Conv2D"
    ALWAYS_SHOWN = ("kernel_size", "strides")
    l1: Penalty = 0.0
    l2: Penalty = 0.0
    filters: PosInt
    kernel_size: PosInt = 3
    strides: PosInt = 1
    padding: Literal["valid", "same"] = "valid"
    activation: ActivationName = "linear"

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank("Conv2D", in_shape, (3,), "an image (channels, height, width)")
        if self.padding == "same" and self.strides != 1:
            raise ShapeError("Conv2D padding='same' needs strides=1")
        _, h, w = in_shape
        if self.padding == "valid" and (h < self.kernel_size or w < self.kernel_size):
            raise ShapeError(f"Conv2D kernel {self.kernel_size} is larger than the image {h}x{w}")
        k, s, p = self.kernel_size, self.strides, self.padding
        return (self.filters, _conv_len(h, k, s, p), _conv_len(w, k, s, p))

    def build(self, in_shape: Shape) -> list[nn.Module]:
        conv = nn.Conv2d(in_shape[0], self.filters, self.kernel_size, self.strides, self.padding)
        return [conv, *_activation(self.activation)]


class MaxPool2D(LayerSpec):
    type: Literal["MaxPool2D"] = "MaxPool2D"
    ALWAYS_SHOWN = ("pool_size",)
    pool_size: PosInt = 2
    strides: PosInt | None = None

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank("MaxPool2D", in_shape, (3,), "an image (channels, height, width)")
        c, h, w = in_shape
        if h < self.pool_size or w < self.pool_size:
            raise ShapeError(f"MaxPool2D pool {self.pool_size} is larger than the image {h}x{w}")
        s = self.strides or self.pool_size
        return (c, (h - self.pool_size) // s + 1, (w - self.pool_size) // s + 1)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [nn.MaxPool2d(self.pool_size, self.strides or self.pool_size)]


class _MeanOver(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims)


class GlobalAveragePooling(LayerSpec):
    """Averages images over height and width, sequences over time."""

    type: Literal["GlobalAveragePooling"] = "GlobalAveragePooling"

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank("GlobalAveragePooling", in_shape, (2, 3), "a sequence (T, F) or an image (C, H, W)")
        return (in_shape[0],) if len(in_shape) == 3 else (in_shape[1],)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [_MeanOver((2, 3) if len(in_shape) == 3 else (1,))]


class _BatchNormLast(nn.Module):
    """Batch norm over the last axis of (B, T, F): torch's BatchNorm1d wants features on axis 1."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class BatchNorm(LayerSpec):
    type: Literal["BatchNorm"] = "BatchNorm"

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank("BatchNorm", in_shape, (1, 2, 3), "features, a sequence or an image")
        return in_shape

    def build(self, in_shape: Shape) -> list[nn.Module]:
        if len(in_shape) == 1:
            return [nn.BatchNorm1d(in_shape[0])]
        if len(in_shape) == 2:
            return [_BatchNormLast(in_shape[1])]
        return [nn.BatchNorm2d(in_shape[0])]


class Embedding(LayerSpec):
    type: Literal["Embedding"] = "Embedding"
    input_dim: PosInt
    output_dim: PosInt

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank("Embedding", in_shape, (1,), "token ids (timesteps,)")
        return (in_shape[0], self.output_dim)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [nn.Embedding(self.input_dim, self.output_dim)]


class _Recurrent(nn.Module):
    """Wraps nn.LSTM/nn.GRU to return the whole sequence or the final state, as Keras does."""

    def __init__(self, rnn: nn.RNNBase, return_sequences: bool) -> None:
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, state = self.rnn(x)
        if self.return_sequences:
            return out
        h = state[0] if isinstance(state, tuple) else state
        # h: (directions, B, units); the last layer's forward and backward final states.
        return h.transpose(0, 1).reshape(x.shape[0], -1)


class _RecurrentSpec(LayerSpec):
    units: PosInt
    return_sequences: bool = False
    bidirectional: bool = False
    l1: Penalty = 0.0
    l2: Penalty = 0.0

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_rank(self.type, in_shape, (2,), "a sequence (timesteps, features)")  # type: ignore[attr-defined]
        width = self.units * (2 if self.bidirectional else 1)
        return (in_shape[0], width) if self.return_sequences else (width,)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        cls = nn.LSTM if self.type == "LSTM" else nn.GRU  # type: ignore[attr-defined]
        rnn = cls(in_shape[1], self.units, batch_first=True, bidirectional=self.bidirectional)
        return [_Recurrent(rnn, self.return_sequences)]


class LSTM(_RecurrentSpec):
    type: Literal["LSTM"] = "LSTM"


class GRU(_RecurrentSpec):
    type: Literal["GRU"] = "GRU"


class _ChannelsSecond(nn.Module):
    """Runs a torch 3D layer on (B, T, C, H, W): torch wants channels before time."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.transpose(1, 2)).transpose(1, 2)


def _need_video(layer: str, in_shape: Shape) -> None:
    _need_rank(layer, in_shape, (4,), "a video (frames, channels, height, width)")


class Conv3D(LayerSpec):
    """Convolution over frames, height and width of a video (the book's 5D tensors)."""

    type: Literal["Conv3D"] = "Conv3D"
    ALWAYS_SHOWN = ("kernel_size",)
    filters: PosInt
    kernel_size: PosInt = 3
    padding: Literal["valid", "same"] = "valid"
    activation: ActivationName = "linear"

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_video("Conv3D", in_shape)
        t, _, h, w = in_shape
        k = self.kernel_size
        if self.padding == "valid" and min(t, h, w) < k:
            raise ShapeError(f"Conv3D kernel {k} is larger than the clip {t}x{h}x{w}")
        size = (lambda n: n) if self.padding == "same" else (lambda n: n - k + 1)
        return (size(t), self.filters, size(h), size(w))

    def build(self, in_shape: Shape) -> list[nn.Module]:
        conv = nn.Conv3d(in_shape[1], self.filters, self.kernel_size, padding=self.padding)
        return [_ChannelsSecond(conv), *_activation(self.activation)]


class MaxPool3D(LayerSpec):
    type: Literal["MaxPool3D"] = "MaxPool3D"
    ALWAYS_SHOWN = ("pool_size",)
    pool_size: PosInt = 2

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_video("MaxPool3D", in_shape)
        t, c, h, w = in_shape
        p = self.pool_size
        if min(t, h, w) < p:
            raise ShapeError(f"MaxPool3D pool {p} is larger than the clip {t}x{h}x{w}")
        return (t // p, c, h // p, w // p)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [_ChannelsSecond(nn.MaxPool3d(self.pool_size))]


class _PerStep(nn.Module):
    """Applies the inner modules to every timestep: (B, T, ...) -> (B*T, ...) and back."""

    def __init__(self, inner: nn.Sequential) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.inner(x.reshape(b * t, *x.shape[2:]))
        return y.reshape(b, t, *y.shape[1:])


class TimeDistributed(LayerSpec):
    """Any layer applied to each frame of a sequence or video, e.g. Conv2D on every frame."""

    type: Literal["TimeDistributed"] = "TimeDistributed"
    layer: AnyLayer

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) < 2:
            raise ShapeError(f"TimeDistributed needs a time axis, got input shape {in_shape}")
        try:
            return (in_shape[0], *self.layer.out_shape(in_shape[1:]))
        except ShapeError as err:
            raise ShapeError(f"on each step {in_shape[1:]}: {err}") from None

    def build(self, in_shape: Shape) -> list[nn.Module]:
        return [_PerStep(nn.Sequential(*self.layer.build(in_shape[1:])))]

    def describe(self) -> str:
        return f"TimeDistributed({self.layer.describe()})"


LAYER_TYPES: dict[str, type[LayerSpec]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        Dense, Dropout, Flatten, Conv2D, MaxPool2D, GlobalAveragePooling, BatchNorm,
        Embedding, LSTM, GRU, Activation, Conv3D, MaxPool3D, TimeDistributed,
    )
}

AnyLayer = Annotated[
    Dense | Dropout | Flatten | Conv2D | MaxPool2D | GlobalAveragePooling | BatchNorm
    | Embedding | LSTM | GRU | Activation | Conv3D | MaxPool3D | TimeDistributed,
    Field(discriminator="type"),
]
TimeDistributed.model_rebuild()
