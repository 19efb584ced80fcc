"""Stacked or one after another: a cost model of a training step from the model's shapes.

Stacking K members saves per-operation overhead: a CPU step of a small model is a few hundred
tiny torch operations (3-4 us each, whatever their size), and K members stacked run about as
many operations as one. It costs arithmetic where a stacked layer does more than K members'
worth: dense and convolution layers stack as batched or grouped products (the same arithmetic),
but recurrent layers stack block-diagonally, K times each member's arithmetic (K^2 in all).
Measured on a 2-core CPU (bench/RESULTS.md, `python -m bench.stack_width`): stacked diabetes
folds won at every width from 16 to 1024 (0.06x to 0.71x of the hand loop), a stacked 32-unit
text LSTM lost 1.3x and a 256-unit one 2.7x; the constants below reproduce those choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model.layers import LayerSpec, Shape
from ..model.resources import layer_macs

OP_SECONDS = 3.5e-6  # one torch operation's fixed cost on a CPU step
OPS_PER_LAYER = 40  # forward, backward and update operations per layer with parameters
OPS_PER_STEP = 30  # the batch, the loss, the metrics
STACKED_OPS = 0.6  # a stacked step's operations, relative to one member's (fused Dense/ReLU)
MAC_SECONDS = 1 / 8e9  # one multiply-add on one thread, forward; backward twice that


def layer_work(layers: Sequence[LayerSpec], in_shape: Shape) -> tuple[int, int, int]:
    """(multiply-adds per sample that stack at no extra cost, multiply-adds per sample of the
    recurrent layers over the whole sequence, layers with parameters)."""
    plain = recurrent = with_params = 0
    shape = in_shape
    for layer in layers:
        out = layer.out_shape(shape)
        macs = layer_macs(layer, shape, out)
        if layer.type in ("LSTM", "GRU"):  # type: ignore[attr-defined]
            recurrent += macs * shape[0]  # one step's, times the steps
        else:
            plain += macs
        with_params += layer.params(shape)[0] > 0
        shape = out
    return plain, recurrent, with_params


def step_seconds(layers: Sequence[LayerSpec], in_shape: Shape, batch: int, members: int,
                 stacked: bool, threads: int) -> float:
    """Estimated seconds of one training step for all `members` (stacked, or one after another)."""
    plain, recurrent, with_params = layer_work(layers, in_shape)
    ops = (OPS_PER_STEP + OPS_PER_LAYER * with_params) * OP_SECONDS
    per_mac = 3 * batch * MAC_SECONDS / max(1, threads)
    if not stacked:
        return members * (ops + (plain + recurrent) * per_mac)
    return STACKED_OPS * ops + (members * plain + members ** 2 * recurrent) * per_mac


def stacking_cost_reason(layers: Sequence[LayerSpec], in_shape: Shape, batch: int, members: int,
                         threads: int) -> str | None:
    """None where stacking is estimated faster; else the one-line reason it is not."""
    together = step_seconds(layers, in_shape, batch, members, True, threads)
    apart = step_seconds(layers, in_shape, batch, members, False, threads)
    if together <= apart:
        return None
    return (f"stacked, the recurrent layers would do {members}x the arithmetic (a step estimated "
            f"at {together * 1e3:.3g} ms stacked, {apart * 1e3:.3g} ms one after another)")
