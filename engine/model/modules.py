"""The torch modules the layer specs build (the specs themselves import no torch: a preset can be
read, checked and counted, and the app's builder drawn, before torch's 1-2 s import)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .layer_base import LEAKY_SLOPE, Shape, channel_axis

# Keras's BatchNormalization: moving averages kept with momentum 0.99 (torch's 0.01 is the
# weight of the new batch: the same thing) and epsilon 1e-3 (torch: 1e-5).
BN_MOMENTUM, BN_EPS = 0.01, 1e-3


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


class MeanOver(nn.Module):
    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims)


class BatchNormLast(nn.Module):
    """Batch norm over the last axis of (B, T, F): torch's BatchNorm1d wants features on axis 1."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(features, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class ChannelsSecond(nn.Module):
    """Runs a torch 3D layer on (B, T, C, H, W): torch wants channels before time."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.transpose(1, 2)).transpose(1, 2)


class PerStep(nn.Module):
    """Applies the inner modules to every timestep: (B, T, ...) -> (B*T, ...) and back."""

    def __init__(self, inner: nn.Sequential) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.inner(x.reshape(b * t, *x.shape[2:]))
        return y.reshape(b, t, *y.shape[1:])


class KerasLSTM(nn.LSTM):
    """nn.LSTM with Keras's one bias per gate (b_hh a fixed zero buffer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in [n for n in self._flat_weights_names if n.startswith("bias_hh")]:
            zero = torch.zeros_like(getattr(self, name))
            delattr(self, name)
            self.register_buffer(name, zero, persistent=False)
        self._init_flat_weights()
        self._register_load_state_dict_pre_hook(_fold_second_bias)


def _fold_second_bias(state: dict[str, torch.Tensor], prefix: str, *_: object) -> None:
    """A model saved with torch's two biases loads exactly: the kernel only ever adds them."""
    for key in [k for k in state if k.startswith(prefix + "bias_hh")]:
        other = key.replace("bias_hh", "bias_ih")
        second = state.pop(key)
        if other in state:
            state[other] = state[other] + second


class Recurrent(nn.Module):
    """Wraps the LSTM/GRU to return the whole sequence or the final state, as Keras does."""

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
