"""Will it fit? Parameters counted and memory estimated from the layer specs alone (counts from
the shapes, shapes.py), compared with what the machine has, before a single real tensor is made."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch

from ..errors import InputError
from .layers import LayerSpec, Shape
from .shapes import count_params

# Bytes kept per parameter while training: the weight, its gradient and up to two optimizer
# moments (adam), all float32.
_PER_PARAM = {"sgd": 4 * 3, "rmsprop": 4 * 3, "adam": 4 * 4, "adamw": 4 * 4}


def estimate_bytes(layers: Sequence[LayerSpec], in_shape: Shape, batch_size: int,
                   optimizer: str, data_bytes: int) -> tuple[int, int]:
    """(parameter count, bytes a training run needs): parameters with gradients and optimizer
    state, each layer's activations for one batch kept for backward (twice: output and gradient),
    and the data held as float32 tensors."""
    params, activations, shape = 0, 0, in_shape
    for layer in layers:
        params += count_params(layer, shape)
        shape = layer.out_shape(shape)
        activations += math.prod(shape) * batch_size * 4 * 2
    return params, params * _PER_PARAM.get(optimizer, 16) + activations + data_bytes


def available_bytes(device: torch.device) -> int | None:
    """Free memory where the run would train: the GPU's, or the machine's available RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def too_big_for_device(nbytes: int, device: torch.device) -> bool:
    """Data that would take over half a GPU's free memory stays in host memory and streams
    to it in batches (never true on the CPU)."""
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes > free // 2


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


def check_fits(layers: Sequence[LayerSpec], in_shape: Shape, batch_size: int, optimizer: str,
               data_bytes: int, device: torch.device) -> int:
    """The parameter count, or an InputError when the estimate exceeds free memory."""
    params, need = estimate_bytes(layers, in_shape, batch_size, optimizer, data_bytes)
    free = available_bytes(device)
    if free is not None and need > free:
        where = "GPU memory" if device.type == "cuda" else "available RAM"
        raise InputError(f"model: {params:,} parameters and batch size {batch_size} need about "
                         f"{_gib(need)} to train, more than the {_gib(free)} of {where}; use fewer "
                         "units/filters or a smaller train.batch_size")
    return params


def macs_per_sample(layers: Sequence[LayerSpec], in_shape: Shape, integer_input: bool = False) -> int:
    """Multiply-adds of one sample's forward pass (dense and convolution layers; a recurrent
    layer counted for one time step), from the layer specs and their shapes alone. (Not by
    running the model on torch's `meta` device: its decompositions import torch's compiler
    stack, a second of start-up.)"""
    total, shape = 0, in_shape
    for layer in layers:
        out = layer.out_shape(shape)
        total += layer_macs(layer, shape, out)
        shape = out
    return total


def layer_macs(layer: LayerSpec, in_shape: Shape, out_shape: Shape) -> int:
    kind = layer.type  # type: ignore[attr-defined]
    if kind == "Dense":
        return math.prod(out_shape) * in_shape[-1]
    if kind == "Conv2D":
        return math.prod(out_shape) * in_shape[0] * layer.kernel_size ** 2  # type: ignore[attr-defined]
    if kind == "Conv3D":  # (T, C, H, W)
        return math.prod(out_shape) * in_shape[1] * layer.kernel_size ** 3  # type: ignore[attr-defined]
    if kind in ("LSTM", "GRU"):
        # One time step's: the steps run one after another, each a small matmul, and the size
        # of one operation is what decides whether a second thread pays.
        gates = 4 if kind == "LSTM" else 3
        units = layer.units  # type: ignore[attr-defined]
        dirs = 2 if layer.bidirectional else 1  # type: ignore[attr-defined]
        return dirs * gates * (in_shape[1] + units) * units
    if kind == "TimeDistributed":
        return in_shape[0] * layer_macs(layer.layer, in_shape[1:], out_shape[1:])  # type: ignore[attr-defined]
    return 0
