"""Everything bad input can break, checked before anything is trained or written: the data loaded
under its rules, shapes inferred, the loss paired with the last layer, memory estimated, the splits
planned and the book's warnings collected."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import checks
from .data.dataset import Dataset, load_data
from .data.splits import SplitPlan, plan_splits
from .doctor.examine import examine
from .errors import InputError
from .events import Notice
from .model.layers import Shape
from .model.losses import LOSSES, Loss, ctc_frames_needed, n_outputs_for
from .model.metrics import SEQUENCE_METRICS
from .model.resources import check_fits, macs_per_sample
from .model.shapes import infer_shapes
from .spec import Preset
from .train.device import resolve_device


@dataclass
class Prepared:
    preset: Preset
    data: Dataset
    device: torch.device
    loss: Loss
    n_outputs: int
    shapes: list[Shape]
    plan: SplitPlan
    params: int
    notices: list[Notice] = field(default_factory=list)
    macs: int = 0  # multiply-adds of one sample's forward pass (the thread policy reads it)

    @property
    def primary_metric(self) -> str:
        return self.preset.train.metrics[0] if self.preset.train.metrics else "loss"


def prepare(preset: Preset, base_dir: Path | None = None, device: str | None = None,
            data: Dataset | None = None) -> Prepared:
    """Everything that bad input can break, checked before any training or writing. `data`:
    already loaded for the same data spec (sweep variants share it)."""
    data = data if data is not None else load_data(preset.data, base_dir)
    dev = resolve_device(device or preset.train.device)
    layers = preset.model.layers
    shapes = infer_shapes(layers, data.input_shape)
    is_tokens = layers[0].type == "Embedding"  # type: ignore[attr-defined]
    if is_tokens:
        checks.token_ids(data.x, layers[0])
    elif not np.issubdtype(data.x.dtype, np.floating):
        data.x = data.x.astype(np.float32)  # integer counts/pixels feed Dense/Conv as numbers
    t = preset.train
    params = check_fits(layers, data.input_shape, t.batch_size, t.optimizer,
                        data.x.size * 4 + data.y.size * 8, dev)
    loss = LOSSES[preset.train.loss]
    n_out = n_outputs_for(data, loss)
    # The doctor's findings: errors stop the run here (one line), the rest become notices. Its
    # duplicate count is left to the exact per-split redundancy check below.
    findings = examine(preset, data, skip=frozenset({"duplicates"}))
    for f in findings:
        if f.severity == "error":
            raise InputError(f"{f.where}: {f.message}")
    if "accuracy" in preset.train.metrics and data.task in ("regression", "sequence"):
        raise InputError("train.metrics: accuracy needs a classification target; use mae for "
                         "regression, ser or sequence_accuracy for ctc")
    wrong = [m for m in preset.train.metrics if (m in SEQUENCE_METRICS) != (loss.name == "ctc")]
    if wrong:
        raise InputError(f"train.metrics: {wrong[0]} does not go with {loss.name}; ctc takes "
                         "ser and sequence_accuracy, other losses accuracy, mae, mse")
    notices = [Notice("warning", "data", note) for note in data.notes]
    if loss.name == "ctc":
        data, found = _alignable(data, shapes[-1][0], preset.train.ctc_unalignable)
        notices += found
    notices += [Notice(f.severity, f.id, f.message) for f in findings]
    v = preset.validation
    if data.test_rows is not None and v.test_fraction:
        raise InputError(f"validation.test_fraction: {preset.data.source} comes with its own "
                         f"test set ({len(data.test_rows):,} rows, the book's); leave "
                         "test_fraction at 0, or set data.split = \"pooled\" to carve your own")
    data.hash_in_background()  # the run folder's fingerprint, hashed while the splits are planned
    plan = plan_splits(data.y, data.task, v, data.time_ordered, preset.train.seed, data.test_rows)
    plan, found = checks.redundancy(data.x, plan, v.dedupe)
    notices += found
    notices += [Notice("warning", "splits", w) for w in plan.warnings]
    notices += checks.representativeness(data.y, data.task, plan, data.classes)
    smallest = min(len(s.train_idx) for s in plan.splits)
    if preset.train.batch_size > smallest:
        notices.append(Notice("warning", "batch-size",
                              f"train.batch_size {preset.train.batch_size} is larger than the "
                              f"training part ({smallest} samples): each epoch is one batch"))
    if data.time_ordered:
        notices.append(Notice("hint", "time-order",
                              "time-ordered data: never shuffled; validation always comes after "
                              "training in time (the arrow of time)"))
    if preset.train.amp and dev.type != "cuda":
        notices.append(Notice("warning", "amp", "train.amp only applies on CUDA; training "
                                                "in float32 on the CPU"))
    macs = macs_per_sample(layers, data.input_shape, is_tokens)
    return Prepared(preset, data, dev, loss, n_out, shapes, plan, params, notices, macs)


def _alignable(data: Dataset, frames: int, rule: str) -> tuple[Dataset, list[Notice]]:
    """CTC targets that no alignment to `frames` output timesteps can produce: an error naming
    them, or (train.ctc_unalignable = "skip") a copy of the data without them and a warning
    (sweep variants share one loaded data set: it is never changed in place)."""
    needed = ctc_frames_needed(data.y)
    bad = needed > frames
    if not bad.any():
        return data, []
    first = int(np.argmax(bad))
    example = " ".join(str(int(v)) for v in data.y[first] if v > 0)
    what = (f"{int(bad.sum())} of {len(data)} ctc target(s) need more than the model's {frames} "
            f"output timesteps (a target of L symbols with R equal neighbours needs L + R; the "
            f"longest needs {int(needed.max())}; e.g. sample {int(data.source_rows[first])}: "
            f"{example})")
    if rule == "error":
        raise InputError(f"train.loss: {what}: their loss would be infinite (torch counts it as "
                         "0); keep more timesteps, shorten the targets, or set "
                         "train.ctc_unalignable = 'skip' to leave them out")
    keep = ~bad
    if not keep.any():
        raise InputError(f"train.loss: {what}: no sample is left to train on")
    kept = dataclasses.replace(data, x=data.x[keep], y=data.y[keep], rows=data.source_rows[keep])
    return kept, [Notice("warning", "ctc-unalignable", f"{what}: left out "
                         "(train.ctc_unalignable = 'skip')")]


def chance_loss(prep: Prepared) -> float | None:
    """The crossentropy of a model that guesses uniformly; a loss far above it is blow-up."""
    if prep.loss.name in ("binary_crossentropy", "categorical_crossentropy",
                          "sparse_categorical_crossentropy"):
        return math.log(max(len(prep.data.classes), 2))
    return None


def chance_accuracy(prep: Prepared) -> float | None:
    """Accuracy of always answering the most common class: what a model that learned nothing
    scores."""
    if prep.data.task not in ("binary", "multiclass") or "accuracy" not in prep.preset.train.metrics:
        return None
    return float(np.bincount(prep.data.y).max() / len(prep.data.y))
