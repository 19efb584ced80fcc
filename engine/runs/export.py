"""A trained model as a file that runs without dltui: torch.export's `.pt2` (the default),
TorchScript, or ONNX; and a run's curves as TensorBoard event files.

Inside the exported graph: the mean fill of missing values, the feature-wise normalisation fitted on
the training part, the model, and its final sigmoid/softmax. Outside it: reading a CSV, one-hot
encoding of text columns and dropping columns (the input is the numeric feature matrix, in the
column order of `model.json`'s `feature_names`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.preprocess import Preprocessing
from ..errors import InputError
from ..model.build import Net
from .trained import TrainedModel

FORMATS = ("pt2", "torchscript", "onnx", "tensorboard")


class Standalone(nn.Module):
    """Raw features in, probabilities or values out."""

    def __init__(self, net: Net, pre: Preprocessing, tokens: bool) -> None:
        super().__init__()
        self.net, self.tokens = net, tokens
        self.has_fill = pre.fill is not None and not tokens
        self.has_norm = pre.mean is not None and not tokens
        self.register_buffer("fill", torch.as_tensor(pre.fill if self.has_fill else np.zeros(1, np.float32)))
        self.register_buffer("mean", torch.as_tensor(pre.mean if self.has_norm else np.zeros(1, np.float32)))
        self.register_buffer("std", torch.as_tensor(pre.std if self.has_norm else np.ones(1, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.has_fill:
            x = torch.where(torch.isnan(x), self.fill, x)
        if self.has_norm:
            x = (x - self.mean) / self.std
        return self.net.predict(x)


def missing_rule(model: TrainedModel) -> str:
    return (model.card.get("schema") or {}).get("missing") or model.preset.data.missing


def standalone(model: TrainedModel, name: str) -> tuple[Standalone, torch.Tensor]:
    """The model with its preprocessing. The run's missing-value rule goes inside: "mean" fills
    a gap with that model's training means (whether or not its training part had one), "zero"
    with 0; under "drop" or "error" a gap gives NaN outputs, as no prediction exists for it."""
    net, pre = model.nets[name]
    rule = missing_rule(model)
    if rule == "mean":
        pre = pre.filling()
    elif rule == "zero" and pre.means is not None:
        pre = dataclasses.replace(pre, fill=np.zeros_like(pre.means))
    tokens = model.card.get("x_dtype") == "int64"
    module = Standalone(net, pre, tokens).eval()
    dtype = torch.int64 if tokens else torch.float32
    example = torch.zeros((2, *model.input_shape), dtype=dtype)
    return module, example


def export(model: TrainedModel, fmt: str, out: Path, name: str, opset: int | None = None,
           verbose: bool = False) -> Path:
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: allowed: {', '.join(FORMATS)}")
    if fmt == "tensorboard":
        from .tensorboard import export_tensorboard

        return export_tensorboard(model.dir, out)
    data = serialised(model, fmt, name, opset, verbose)
    # Written by Python, not by torch's C++ zip writer: on a full disk that writer aborts the
    # whole process (SIGABRT, a 0-byte file left), where Python raises OSError.
    with open(out, "wb") as fh:
        fh.write(data)
    return out


def serialised(model: TrainedModel, fmt: str, name: str, opset: int | None = None,
               verbose: bool = False) -> bytes:
    """The model file's bytes, made in memory (export is for models that fit in it). `opset`:
    ONNX's operator set (None: the exporter's default); `verbose`: the exporters' progress and
    warnings on stderr (never on stdout, which is the command's result)."""
    module, example = standalone(model, name)
    batch = torch.export.Dim("batch", min=1)
    buffer = io.BytesIO()
    if fmt == "pt2":
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, buffer)
        return buffer.getvalue()
    if fmt == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(module, example)
        torch.jit.save(scripted, buffer)
        return buffer.getvalue()
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise InputError("--format onnx needs the onnx extra: pip install 'dltui[onnx]'") from None
    # The exporter prints its progress on stdout and logs warnings about packages it does
    # not need: a command's stdout is its result (the path), so they are kept off it.
    # One self-contained file (no .onnx.data sidecar) for models under protobuf's 2 GB.
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:
            q.setLevel(logging.INFO if verbose else logging.ERROR)
        sink = sys.stderr if verbose else io.StringIO()
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("default" if verbose else "ignore")
            program = torch.onnx.export(module, (example,), None, dynamo=True, input_names=["x"],
                                        output_names=["y"], dynamic_shapes=({0: batch},),
                                        opset_version=opset, verbose=False)
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    assert program is not None
    proto = program.model_proto
    wrote = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and wrote != opset:  # the converter gives up quietly
        raise InputError(f"--opset {opset}: the ONNX exporter could not convert this model to "
                         f"operator set {opset} (it wrote {wrote}); try {wrote} or newer")
    return proto.SerializeToString()
