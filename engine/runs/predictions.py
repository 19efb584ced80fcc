"""What a trained model says: its outputs for raw rows (computed the same way during training and
after), the rows it was given, and the predictions table `dltui predict` writes, one row per
input row in input order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..model.build import Net

CHUNK = 4096


def model_outputs(net: Net, pre: Preprocessing, x: np.ndarray,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """What the model says for raw rows (all, or those at `rows`): probabilities (after
    sigmoid/softmax), values, or per-frame scores; computed on the CPU in chunks, the same way
    during training and after."""
    net.eval()
    outs = []
    n = len(x) if rows is None else len(rows)
    with torch.no_grad():
        for s in range(0, n, CHUNK):
            chunk = x[s:s + CHUNK] if rows is None else x[rows[s:s + CHUNK]]
            xb = torch.from_numpy(np.ascontiguousarray(pre.apply(chunk)))
            outs.append(net.predict(xb).float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


@dataclass
class Inputs:
    x: np.ndarray
    y: np.ndarray | None  # encoded like training (class ids, float values, symbol ids)
    rows: np.ndarray  # the row index in the source of each sample kept
    notes: list[str] = field(default_factory=list)


@dataclass
class Predictions:
    rows: np.ndarray
    outputs: np.ndarray  # probabilities (classification), values (regression), scores (ctc)
    task: str
    classes: list[str]
    model: str
    decoded: list[str] | None = None  # ctc: symbol strings
    skipped: dict[int, str] = field(default_factory=dict)  # source row -> why it has no prediction

    @property
    def labels(self) -> list[str] | None:
        if self.task == "binary" and self.outputs.shape[-1] == 1:
            return [self.classes[int(p > 0.5)] for p in self.outputs[:, 0]]
        if self.task in ("binary", "multiclass"):
            return [self.classes[i] for i in self.outputs.argmax(-1)]
        return None

    def probabilities(self) -> np.ndarray:
        """One column per class, also for a binary model with one sigmoid output."""
        if self.task == "binary" and self.outputs.shape[-1] == 1:
            return np.concatenate([1 - self.outputs, self.outputs], axis=1)
        return self.outputs

    def columns(self) -> tuple[list[str], list[list[Any]]]:
        """Header and rows of the predictions table (what `dltui predict` writes as CSV)."""
        rows = [[int(r)] for r in self.rows]
        if self.task in ("binary", "multiclass"):
            header = ["row", "predicted", *[f"p({c})" for c in self.classes]]
            for row, label, probs in zip(rows, self.labels or [], self.probabilities(), strict=True):
                row += [label, *(float(p) for p in probs)]
        elif self.task == "sequence":
            header = ["row", "predicted"]
            for row, text in zip(rows, self.decoded or [], strict=True):
                row.append(text)
        else:
            values = self.outputs.reshape(len(self.outputs), -1)
            header = ["row", *(["predicted"] if values.shape[1] == 1 else
                               [f"predicted_{i}" for i in range(values.shape[1])])]
            for row, vals in zip(rows, values, strict=True):
                row += [float(v) for v in vals]
        if not self.skipped:
            return header, rows
        # One output row per input row, in input order: a row that could not be predicted keeps
        # its place, with empty predictions and the reason.
        blank = [""] * (len(header) - 1)
        rows = [[*r, ""] for r in rows] + [[row, *blank, why] for row, why in self.skipped.items()]
        return [*header, "reason"], sorted(rows, key=lambda r: int(r[0]))
