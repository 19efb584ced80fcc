"""Weight initialisers as Keras names and draws them (Keras 3's `VarianceScaling`, `Orthogonal`).

The book's numbers were made with Keras's defaults: `glorot_uniform` kernels and zero biases,
`orthogonal` recurrent kernels, the LSTM's forget-gate bias at 1, embeddings uniform in
+-0.05. torch's own defaults (Kaiming-uniform with a=sqrt(5), biases drawn from the fan-in)
train the same convnet to a lower accuracy (0.951 against Keras's 0.962 on 5,000 MNIST images),
so dltui draws as Keras does; `torch` keeps torch's draw for those who want it.

Fans are torch's (`weight` is (out, in, *kernel)), which equal Keras's for its (*kernel, in, out)
layout: fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Keras's truncated normal keeps the stddev asked for after cutting at 2 stddev.
_TRUNCATED = 0.87962566103423978
_SCALING = {  # name -> (scale, mode, distribution)
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def _fans(t: torch.Tensor) -> tuple[int, int]:
    if t.dim() < 2:
        return t.numel(), t.numel()
    field = math.prod(t.shape[2:])
    return t.shape[1] * field, t.shape[0] * field


@torch.no_grad()
def initialize(t: torch.Tensor, name: str) -> None:
    """Draws `t` in place as Keras's initialiser `name` would (`torch`: leaves it as built)."""
    if name == "torch" or t.is_meta:
        return
    if name == "zeros":
        t.zero_()
    elif name == "ones":
        t.fill_(1.0)
    elif name == "uniform":  # Keras's RandomUniform default, the Embedding's initialiser
        t.uniform_(-0.05, 0.05)
    elif name == "orthogonal":
        nn.init.orthogonal_(t)
    else:
        scale, mode, distribution = _SCALING[name]
        fan_in, fan_out = _fans(t)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        scale /= max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            t.uniform_(-limit, limit)
        else:
            std = math.sqrt(scale) / _TRUNCATED
            nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


def init_weight_bias(module: nn.Module, kernel: str, bias: str) -> nn.Module:
    """A Dense or convolution layer's kernel and bias drawn as Keras would."""
    initialize(module.weight, kernel)
    if getattr(module, "bias", None) is not None:
        initialize(module.bias, bias)  # type: ignore[arg-type]
    return module
