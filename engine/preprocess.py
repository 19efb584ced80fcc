"""The book's preprocessing: feature-wise standardisation and missing-value fill, both fitted on the
training part only and then applied to validation and test; `to_categorical` for one-hot targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def feature_axes(rank: int) -> tuple[int, ...]:
    """Axes that statistics are taken over, so that each feature (or image channel) gets its own
    mean and std: vectors (N, F), sequences (N, T, F), images (N, C, H, W), videos (N, T, C, H, W)."""
    return {2: (0,), 3: (0, 1), 4: (0, 2, 3), 5: (0, 1, 3, 4)}.get(rank, (0,))


@dataclass(frozen=True)
class Preprocessing:
    fill: np.ndarray | None  # per-column training means that replace NaN
    mean: np.ndarray | None
    std: np.ndarray | None

    def apply(self, x: np.ndarray) -> np.ndarray:
        if not np.issubdtype(x.dtype, np.floating):
            return x  # token ids are looked up, not scaled
        out = x
        if self.fill is not None:
            out = np.where(np.isnan(out), self.fill, out)
        if self.mean is not None and self.std is not None:
            out = (out - self.mean) / self.std
        return out.astype(np.float32, copy=False)


def fit_preprocessing(x: np.ndarray, train_idx: np.ndarray, normalize: bool) -> Preprocessing:
    """Fit on `x[train_idx]` only: a statistic that has seen validation rows leaks them."""
    if not np.issubdtype(x.dtype, np.floating):
        return Preprocessing(None, None, None)
    part = x[train_idx]
    fill = None
    if np.isnan(part).any() or np.isnan(x).any():
        with np.errstate(all="ignore"):
            fill = np.nan_to_num(np.nanmean(part, axis=0), nan=0.0).astype(np.float32)
        part = np.where(np.isnan(part), fill, part)
    if not normalize:
        return Preprocessing(fill, None, None)
    axes = feature_axes(x.ndim)
    mean = part.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = part.std(axis=axes, keepdims=True, dtype=np.float64)
    std[std < 1e-8] = 1.0  # a constant feature stays constant instead of dividing by zero
    return Preprocessing(fill, mean[0].astype(np.float32), std[0].astype(np.float32))


def to_categorical(y: np.ndarray, classes: int) -> np.ndarray:
    """Integer class ids -> one-hot rows, as Keras' to_categorical."""
    out = np.zeros((len(y), classes), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def target_array(y: np.ndarray, form: str, classes: int) -> np.ndarray:
    """The target in the form the loss wants: one-hot rows, class ids, or float columns."""
    if form == "one_hot":
        return to_categorical(y, classes)
    if form in ("index", "sequence"):
        return y.astype(np.int64)
    col = y.astype(np.float32)
    return col.reshape(len(col), -1)
