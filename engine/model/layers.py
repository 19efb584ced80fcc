"""Layer specs: each knows its output shape and builds its torch module (Keras' compute_output_shape).

Shapes leave out the batch axis (see `layer_base`). `summary`, the app's live shapes and the model
itself all go through `out_shape`/`build`, so they can never disagree. Each layer draws its
weights as Keras does by default (`init`), so a model trains from the book's starting point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from .layer_base import (
    ActivationName,
    Initializer,
    LayerSpec,
    Penalty,
    PosInt,
    Shape,
    ShapeError,
    activation_params,
    channel_axis,
    need_rank,
)
from .recurrent import GRU, LSTM

if TYPE_CHECKING:
    from torch import nn

__all__ = ["GRU", "LSTM", "ActivationName", "LayerSpec", "Shape", "ShapeError"]
class Dense(LayerSpec):
    type: Literal["Dense"] = "Dense"
    l1: Penalty = 0.0
    l2: Penalty = 0.0
    units: PosInt
    activation: ActivationName = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"

    def out_shape(self, in_shape: Shape) -> Shape:
        """Keras's Dense acts on the last axis of its channels-last tensors: on an image or a
        video that is the channels axis (a 1x1 convolution), not the width."""
        if not in_shape:
            raise ShapeError("Dense needs at least one feature axis")
        axis = channel_axis(in_shape)
        return (*in_shape[:axis], self.units, *in_shape[axis + 1:])

    def params(self, in_shape: Shape) -> tuple[int, int]:
        weights = in_shape[channel_axis(in_shape)] * self.units + self.units * self.use_bias
        return weights + activation_params(self.activation, self.out_shape(in_shape)), 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .init import init_weight_bias
        from .modules import OnChannels, activation_modules

        axis = channel_axis(in_shape)
        linear = init_weight_bias(nn.Linear(in_shape[axis], self.units, bias=self.use_bias),
                                  self.kernel_initializer, self.bias_initializer)
        inner: nn.Module = linear if axis == len(in_shape) - 1 else OnChannels(linear, axis + 1)
        return [inner, *activation_modules(self.activation, self.out_shape(in_shape))]


class Activation(LayerSpec):
    type: Literal["Activation"] = "Activation"
    activation: ActivationName

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def params(self, in_shape: Shape) -> tuple[int, int]:
        return activation_params(self.activation, in_shape), 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .modules import activation_modules

        return activation_modules(self.activation, in_shape) or [nn.Identity()]


class Dropout(LayerSpec):
    type: Literal["Dropout"] = "Dropout"
    rate: Annotated[float, Field(ge=0.0, lt=1.0)]

    def out_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from .dropout import MemberDropout

        return [MemberDropout(self.rate)]


class Flatten(LayerSpec):
    type: Literal["Flatten"] = "Flatten"

    def out_shape(self, in_shape: Shape) -> Shape:
        n = 1
        for d in in_shape:
            n *= d
        return (n,)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

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
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank("Conv2D", in_shape, (3,), "an image (channels, height, width)")
        if self.padding == "same" and self.strides != 1:
            raise ShapeError("Conv2D padding='same' needs strides=1")
        _, h, w = in_shape
        if self.padding == "valid" and (h < self.kernel_size or w < self.kernel_size):
            raise ShapeError(f"Conv2D kernel {self.kernel_size} is larger than the image {h}x{w}")
        k, s, p = self.kernel_size, self.strides, self.padding
        return (self.filters, _conv_len(h, k, s, p), _conv_len(w, k, s, p))

    def params(self, in_shape: Shape) -> tuple[int, int]:
        weights = in_shape[0] * self.filters * self.kernel_size ** 2 + self.filters
        return weights + activation_params(self.activation, self.out_shape(in_shape)), 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .init import init_weight_bias
        from .modules import activation_modules

        conv = nn.Conv2d(in_shape[0], self.filters, self.kernel_size, self.strides, self.padding)
        init_weight_bias(conv, self.kernel_initializer, self.bias_initializer)
        return [conv, *activation_modules(self.activation, self.out_shape(in_shape))]


class MaxPool2D(LayerSpec):
    type: Literal["MaxPool2D"] = "MaxPool2D"
    ALWAYS_SHOWN = ("pool_size",)
    pool_size: PosInt = 2
    strides: PosInt | None = None

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank("MaxPool2D", in_shape, (3,), "an image (channels, height, width)")
        c, h, w = in_shape
        if h < self.pool_size or w < self.pool_size:
            raise ShapeError(f"MaxPool2D pool {self.pool_size} is larger than the image {h}x{w}")
        s = self.strides or self.pool_size
        return (c, (h - self.pool_size) // s + 1, (w - self.pool_size) // s + 1)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        return [nn.MaxPool2d(self.pool_size, self.strides or self.pool_size)]


class GlobalAveragePooling(LayerSpec):
    """Averages images over height and width, sequences over time."""

    type: Literal["GlobalAveragePooling"] = "GlobalAveragePooling"

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank("GlobalAveragePooling", in_shape, (2, 3), "a sequence (T, F) or an image (C, H, W)")
        return (in_shape[0],) if len(in_shape) == 3 else (in_shape[1],)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from .modules import MeanOver

        return [MeanOver((2, 3) if len(in_shape) == 3 else (1,))]


class BatchNorm(LayerSpec):
    type: Literal["BatchNorm"] = "BatchNorm"

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank("BatchNorm", in_shape, (1, 2, 3), "features, a sequence or an image")
        return in_shape

    def params(self, in_shape: Shape) -> tuple[int, int]:
        # A scale and a shift trained per feature (the last axis of a sequence, an image's
        # channels); the moving mean and variance are kept but not trained.
        features = in_shape[1] if len(in_shape) == 2 else in_shape[0]
        return 2 * features, 2 * features

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .modules import BN_EPS, BN_MOMENTUM, BatchNormLast

        if len(in_shape) == 1:
            return [nn.BatchNorm1d(in_shape[0], eps=BN_EPS, momentum=BN_MOMENTUM)]
        if len(in_shape) == 2:
            return [BatchNormLast(in_shape[1])]
        return [nn.BatchNorm2d(in_shape[0], eps=BN_EPS, momentum=BN_MOMENTUM)]


class Embedding(LayerSpec):
    type: Literal["Embedding"] = "Embedding"
    input_dim: PosInt
    output_dim: PosInt
    embeddings_initializer: Initializer = "uniform"

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank("Embedding", in_shape, (1,), "token ids (timesteps,)")
        return (in_shape[0], self.output_dim)

    def params(self, in_shape: Shape) -> tuple[int, int]:
        return self.input_dim * self.output_dim, 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .init import initialize

        emb = nn.Embedding(self.input_dim, self.output_dim)
        initialize(emb.weight, self.embeddings_initializer)
        return [emb]


def _need_video(layer: str, in_shape: Shape) -> None:
    need_rank(layer, in_shape, (4,), "a video (frames, channels, height, width)")


class Conv3D(LayerSpec):
    """Convolution over frames, height and width of a video (the book's 5D tensors)."""

    type: Literal["Conv3D"] = "Conv3D"
    ALWAYS_SHOWN = ("kernel_size",)
    filters: PosInt
    kernel_size: PosInt = 3
    padding: Literal["valid", "same"] = "valid"
    activation: ActivationName = "linear"
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"

    def out_shape(self, in_shape: Shape) -> Shape:
        _need_video("Conv3D", in_shape)
        t, _, h, w = in_shape
        k = self.kernel_size
        if self.padding == "valid" and min(t, h, w) < k:
            raise ShapeError(f"Conv3D kernel {k} is larger than the clip {t}x{h}x{w}")
        size = (lambda n: n) if self.padding == "same" else (lambda n: n - k + 1)
        return (size(t), self.filters, size(h), size(w))

    def params(self, in_shape: Shape) -> tuple[int, int]:
        weights = in_shape[1] * self.filters * self.kernel_size ** 3 + self.filters
        return weights + activation_params(self.activation, self.out_shape(in_shape)), 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .init import init_weight_bias
        from .modules import ChannelsSecond, activation_modules

        conv = nn.Conv3d(in_shape[1], self.filters, self.kernel_size, padding=self.padding)
        init_weight_bias(conv, self.kernel_initializer, self.bias_initializer)
        return [ChannelsSecond(conv), *activation_modules(self.activation, self.out_shape(in_shape))]


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
        from torch import nn

        from .modules import ChannelsSecond

        return [ChannelsSecond(nn.MaxPool3d(self.pool_size))]


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

    def params(self, in_shape: Shape) -> tuple[int, int]:
        return self.layer.params(in_shape[1:])

    def build(self, in_shape: Shape) -> list[nn.Module]:
        from torch import nn

        from .modules import PerStep

        return [PerStep(nn.Sequential(*self.layer.build(in_shape[1:])))]

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
