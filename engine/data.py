"""From a data spec to arrays: the source is loaded, the task settled, the labels encoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltui.engine.datasets import load_builtin
from dltui.engine.errors import InputError
from dltui.engine.spec import DataSpec


@dataclass
class Dataset:
    x: np.ndarray  # float32 features (NaN where missing and filled per split), or int64 token ids
    y: np.ndarray  # int64 class ids for classification, float32 for regression
    task: str  # binary | multiclass | regression
    classes: list[str]
    time_ordered: bool
    about: str
    feature_names: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def describe(self) -> str:
        if self.task == "regression":
            lo, hi = float(np.min(self.y)), float(np.max(self.y))
            target = f"target {lo:.4g} to {hi:.4g}"
        elif self.task == "sequence":
            target = (f"{len(self.classes) - 1} symbols + blank, strings of up to "
                      f"{self.y.shape[1]}")
        else:
            target = f"{len(self.classes)} classes"
        return f"{len(self)} samples, input {self.input_shape}, {self.task}, {target}"


def resolve_path(text: str, base_dir: Path | None) -> Path:
    """Relative data paths are read next to the preset first, then from the working directory."""
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        return base_dir / path
    return path


def load_data(spec: DataSpec, base_dir: Path | None = None) -> Dataset:
    kind, _, ref = spec.source.partition(":")
    if kind == "builtin":
        x, y, task, classes, time_ordered, about = load_builtin(ref, spec)
        if spec.task != "auto" and spec.task != task:
            raise InputError(f"data.task: '{ref}' is a {task} set, not {spec.task}")
        return Dataset(x, y, task, classes, time_ordered or spec.time_ordered, about)
    path = resolve_path(ref, base_dir)
    if not path.is_file():
        raise InputError(f"data.source: {path}: no such file")
    if kind == "csv":
        from dltui.engine.csv_source import read_csv

        x, raw_y, names = read_csv(path, spec)
    else:
        x, raw_y = _read_npz(path, spec)
        names = []
    if spec.task == "sequence":  # ctc targets: symbol ids padded with 0
        if raw_y.ndim != 2 or not np.issubdtype(raw_y.dtype, np.integer) or raw_y.min() < 0:
            raise InputError(f"{path}: data.task = 'sequence' needs y as integer symbol ids "
                             "(samples x max length), 1 and up, padded with 0")
        names = ["<blank>", *[str(s) for s in range(1, int(raw_y.max()) + 1)]]
        return Dataset(x, raw_y.astype(np.int64), "sequence", names, spec.time_ordered,
                       str(path))
    if spec.vectorize != "none":
        from dltui.engine.datasets import vectorized

        x, raw_y, *_ = vectorized((x, raw_y, "", [], False, ""), spec)
    y, task, classes = encode_target(raw_y, spec.task, f"{path}")
    return Dataset(x, y, task, classes, spec.time_ordered, str(path), names)


def _read_npz(path: Path, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("x", "y") if k not in npz.files]
            if missing:
                raise InputError(f"{path}: needs arrays 'x' and 'y', found {npz.files or 'none'}")
            x, y = npz["x"], npz["y"]
    except InputError:
        raise
    except Exception as err:  # numpy raises many types for a bad archive
        raise InputError(f"{path}: not a readable .npz file ({err})") from None
    if len(x) != len(y):
        raise InputError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    if not 2 <= x.ndim <= 5:
        raise InputError(f"{path}: x has rank {x.ndim}; allowed: 2 (vectors) to 5 (videos)")
    if len(x) == 0:
        raise InputError(f"{path}: x has no samples")
    if spec.layout == "channels_last" and x.ndim in (4, 5):
        # (N, H, W, C) -> (N, C, H, W); videos (N, T, H, W, C) -> (N, T, C, H, W); converted once.
        x = np.moveaxis(x, -1, -3)
    if np.issubdtype(x.dtype, np.integer) and x.ndim == 2:
        return np.ascontiguousarray(x, dtype=np.int64), y
    return np.ascontiguousarray(x, dtype=np.float32), y


def encode_target(raw: np.ndarray, task: str, where: str) -> tuple[np.ndarray, str, list[str]]:
    """Settle the task from the target where it is unambiguous and encode class labels as ids."""
    raw = np.asarray(raw)
    numeric = np.issubdtype(raw.dtype, np.number) or raw.dtype == bool
    if numeric and raw.ndim == 1 and np.isnan(raw.astype(float)).any():
        raise InputError(f"{where}: the target has {int(np.isnan(raw.astype(float)).sum())} "
                         "missing values; remove those rows")
    if task == "auto":
        if not numeric:
            task = "binary" if len(np.unique(raw)) <= 2 else "multiclass"
        elif raw.ndim > 1 or not np.all(np.equal(np.mod(raw, 1), 0)):
            task = "regression"
        else:
            distinct = len(np.unique(raw))
            task = "binary" if distinct <= 2 else "multiclass" if distinct <= 20 else "regression"
    if task == "regression":
        if not numeric:
            raise InputError(f"{where}: data.task is regression but the target is not numeric")
        return raw.astype(np.float32), task, []
    values, ids = np.unique(raw, return_inverse=True)
    if len(values) < 2:
        raise InputError(f"{where}: the target has a single class ('{values[0]}'); "
                         "a classifier needs at least two")
    if task == "binary" and len(values) != 2:
        raise InputError(f"{where}: data.task is binary but the target has {len(values)} classes")
    return ids.astype(np.int64).reshape(-1), task, [str(v) for v in values]
