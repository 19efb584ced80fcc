"""LSTM and GRU as Keras builds them: its parameters, its counts, its initial draw.

torch's LSTM adds two biases per gate (b_ih + b_hh) where Keras has one: LSTM(32) on one feature
is 4,480 parameters in torch and 4,352 in Keras (the book's summaries). dltui's LSTM keeps
torch's fused kernel but holds b_hh as a zero buffer, neither trained nor saved, so the model is
Keras's. torch's GRU already equals Keras 3's default (`reset_after=True`: an input and a
recurrent bias, 3 * (units * (features + units) + 2 * units) parameters both ways).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from .layer_base import Initializer, LayerSpec, Penalty, PosInt, Shape, need_rank

if TYPE_CHECKING:
    from torch import nn


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

    def params(self, in_shape: Shape) -> tuple[int, int]:
        # Per direction, per gate: input and recurrent kernels and Keras's biases (one per gate
        # for the LSTM, two for the GRU with reset_after, Keras 3's default).
        gates, biases = (4, 1) if self.type == "LSTM" else (3, 2)  # type: ignore[attr-defined]
        one = gates * (self.units * (in_shape[1] + self.units) + biases * self.units)
        return one * (2 if self.bidirectional else 1), 0

    def build(self, in_shape: Shape) -> list[nn.Module]:
        import torch
        from torch import nn

        from .init import initialize
        from .modules import KerasLSTM, Recurrent

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
