"""LSTM and GRU as Keras builds them: its parameters, its counts, its initial draw.

torch's LSTM adds two biases per gate (b_ih + b_hh) where Keras has one: LSTM(32) on one feature
is 4,480 parameters in torch and 4,352 in Keras (the book's summaries). dltui's LSTM keeps
torch's fused kernel but holds b_hh as a zero buffer, neither trained nor saved, so the model is
Keras's. torch's GRU already equals Keras 3's default (`reset_after=True`: an input and a
recurrent bias, 3 * (units * (features + units) + 2 * units) parameters both ways).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from .init import Initializer, initialize
from .layer_base import LayerSpec, Penalty, PosInt, Shape, need_rank


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


class RecurrentSpec(LayerSpec):
    units: PosInt
    return_sequences: bool = False
    bidirectional: bool = False
    l1: Penalty = 0.0
    l2: Penalty = 0.0
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"

    def out_shape(self, in_shape: Shape) -> Shape:
        need_rank(self.type, in_shape, (2,), "a sequence (timesteps, features)")  # type: ignore[attr-defined]
        width = self.units * (2 if self.bidirectional else 1)
        return (in_shape[0], width) if self.return_sequences else (width,)

    def build(self, in_shape: Shape) -> list[nn.Module]:
        cls = KerasLSTM if self.type == "LSTM" else nn.GRU  # type: ignore[attr-defined]
        rnn = cls(in_shape[1], self.units, batch_first=True, bidirectional=self.bidirectional)
        for name, p in rnn.named_parameters():
            kind = name.split("_")[0] + "_" + name.split("_")[1][:2]  # weight_ih, weight_hh, bias_ih...
            initialize(p, {"weight_ih": self.kernel_initializer,
                           "weight_hh": self.recurrent_initializer}.get(kind, self.bias_initializer))
            if self.type == "LSTM" and kind == "bias_ih" and getattr(self, "unit_forget_bias", False):  # type: ignore[attr-defined]
                with torch.no_grad():  # gates are (input, forget, cell, output) in both
                    p[self.units:2 * self.units].fill_(1.0)
        return [Recurrent(rnn, self.return_sequences)]


class LSTM(RecurrentSpec):
    type: Literal["LSTM"] = "LSTM"
    unit_forget_bias: bool = True  # Keras: the forget gate's bias starts at 1 (Jozefowicz 2015)


class GRU(RecurrentSpec):
    type: Literal["GRU"] = "GRU"
