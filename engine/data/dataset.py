"""From a data spec to arrays: the source is loaded, the task settled, the labels encoded."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..spec import DataSpec
from .book_sets import FILES as BOOK_FILES
from .book_sets import load_book
from .datasets import load_builtin
from .fingerprint import fingerprint as _fingerprint
from .labels import unique_inverse
from .tables.schema import TableSchema


@dataclass
class Dataset:
    x: np.ndarray  # float32 features (NaN where missing and filled per split), or int64 token ids
    y: np.ndarray  # int64 class ids for classification, float32 for regression
    task: str  # binary | multiclass | regression
    classes: list[str]
    time_ordered: bool
    about: str
    feature_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the data rules did (rows removed, ...)
    schema: TableSchema | None = None  # how a CSV's columns became features (saved with a run)
    source_path: Path | None = None
    rows: np.ndarray | None = None  # each sample's row in the source file (CSV rows may be removed)
    test_rows: np.ndarray | None = None  # the set's own test set, kept as the run's test part

    @property
    def source_rows(self) -> np.ndarray:
        return self.rows if self.rows is not None else np.arange(len(self.x))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    # The fingerprint of (x, y, classes) by identity: computed once (sweep variants share a data
    # set), in a thread where prepare() starts it, so hashing overlaps the split planning.
    _hashing: tuple[tuple[Any, ...], threading.Thread | None, list[str]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def hash_in_background(self) -> None:
        """Start the fingerprint in a thread: hashlib lets go of the GIL while it hashes (0.15 s
        for 128 MB), so what the caller does meanwhile is not held up. The data is read, never
        changed, until `fingerprint()` collects it."""
        key = (self.x, self.y, self.classes)
        if self._hashed(key):
            return
        box: list[str] = []
        thread = threading.Thread(target=lambda: box.append(_fingerprint(*key)), daemon=True,
                                  name="dltui-fingerprint")
        thread.start()
        self._hashing = (key, thread, box)

    def fingerprint(self) -> str:
        """A hash of what was read (shapes, dtypes, the targets and the features), so a resumed
        run can tell its data changed."""
        key = (self.x, self.y, self.classes)
        if self._hashed(key):
            assert self._hashing is not None
            _, thread, box = self._hashing
            if thread is not None:
                thread.join()
            if box:  # empty if the thread failed: hash here, where an error is seen
                return box[0]
        box = [_fingerprint(*key)]
        self._hashing = (key, None, box)
        return box[0]

    def _hashed(self, key: tuple[Any, ...]) -> bool:
        """Whether the fingerprint of exactly these arrays is known or under way."""
        return self._hashing is not None and all(
            a is b for a, b in zip(self._hashing[0], key, strict=True))

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
    if kind == "builtin" and ref in BOOK_FILES:
        book = load_book(ref, spec)
        if spec.task != "auto" and spec.task != book.task:
            raise InputError(f"data.task: '{ref}' is a {book.task} set, not {spec.task}")
        test = None
        if spec.split == "source":
            test = np.arange(len(book.y) - book.n_test, len(book.y))
        return Dataset(book.x, book.y, book.task, book.classes, spec.time_ordered, book.about,
                       test_rows=test)
    if kind == "builtin":
        x, y, task, classes, time_ordered, about = load_builtin(ref, spec)
        if spec.task != "auto" and spec.task != task:
            raise InputError(f"data.task: '{ref}' is a {task} set, not {spec.task}")
        return Dataset(x, y, task, classes, time_ordered or spec.time_ordered, about)
    path = resolve_path(ref, base_dir)
    if kind == "npy":
        if not path.is_dir():
            raise InputError(f"data.source: {path}: no such folder (npy:FOLDER holds x.npy and "
                             "y.npy)")
    elif not path.is_file():
        raise InputError(f"data.source: {path}: no such file")
    schema, notes = None, []
    tabular = kind in ("csv", "parquet", "feather")
    if tabular:
        from .tables.encode import encode, fit_schema
        from .tables.reader import read_columnar, read_table

        source = read_table(path) if kind == "csv" else read_columnar(path, kind)
        table = encode(source, fit_schema(source, spec.target, spec.drop, spec.missing))
        x, raw_y, names, schema, notes = (table.x, table.y_raw, table.schema.feature_names(),
                                          table.schema, table.notes)
    elif kind == "npy":
        x, raw_y, npy_notes = read_npy(path, spec.layout)
        names, notes = [], npy_notes
    else:
        notes = []
        x, raw_y = read_npz(path, spec.layout, notes=notes)
        names = []
        if spec.task not in ("regression", "sequence") and one_hot_labels(raw_y):
            raw_y = raw_y.argmax(axis=1)
            notes.append(f"{path}: y is one-hot (rows of 0 and 1): read as class ids 0 to "
                         f"{int(raw_y.max())}")
    if spec.task == "sequence":  # ctc targets: symbol ids padded with 0
        if raw_y.ndim != 2 or not np.issubdtype(raw_y.dtype, np.integer) or raw_y.min() < 0:
            raise InputError(f"{path}: data.task = 'sequence' needs y as integer symbol ids "
                             "(samples x max length), 1 and up, padded with 0")
        names = ["<blank>", *[str(s) for s in range(1, int(raw_y.max()) + 1)]]
        return Dataset(x, raw_y.astype(np.int64), "sequence", names, spec.time_ordered,
                       str(path), source_path=path.resolve())
    if spec.vectorize != "none":
        from .datasets import vectorized

        x, raw_y, *_ = vectorized((x, raw_y, "", [], False, ""), spec)
    y, task, classes = encode_target(raw_y, spec.task, f"{path}")
    rows = table.rows if tabular else None
    return Dataset(x, y, task, classes, spec.time_ordered, str(path), names, notes, schema,
                   path.resolve(), rows)


_NPZ_KINDS = "biuf"  # bool, signed/unsigned integers, floats: what a tensor can hold


def layout_note(path: Path, shape: tuple[int, ...], layout: str) -> list[str]:
    """Images stored channels-first but read as channels-last train silently on a transposed
    image: say so when the first axis looks like channels and the last does not."""
    if layout != "channels_last" or len(shape) not in (4, 5):
        return []
    first, last = shape[-3], shape[-1]
    if first in (1, 3, 4) and last not in (1, 3, 4):
        return [f"{path}: x has shape {tuple(shape)}, which looks channels-first ({first} "
                f"channels of {shape[-2]}x{last}); it is read as channels-last ({last} channels): "
                "set data.layout = 'channels_first' if the channels come first"]
    return []


def one_hot_labels(y: np.ndarray) -> bool:
    """y given as one-hot rows (0/1, exactly one 1 per row), as `to_categorical` writes them."""
    if y.ndim != 2 or y.shape[1] < 2 or not np.issubdtype(y.dtype, np.number):
        return False
    return bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())


def read_npz(path: Path, layout: str, need_y: bool = True,
             notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("x", "y") if k not in npz.files and (k == "x" or need_y)]
            if missing:
                raise InputError(f"{path}: needs arrays 'x' and 'y', found {npz.files or 'none'}")
            x = npz["x"]
            y = npz["y"] if "y" in npz.files and need_y else None  # predicting: y is ignored
    except InputError:
        raise
    except Exception as err:  # numpy raises many types for a bad archive (pickled objects too)
        raise InputError(f"{path}: not a readable .npz file of plain arrays ({err})") from None
    check_array(path, "x", x)
    if y is not None:
        check_array(path, "y", y)
        if len(x) != len(y):
            raise InputError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    if not 2 <= x.ndim <= 5:
        raise InputError(f"{path}: x has rank {x.ndim}; allowed: 2 (vectors) to 5 (videos)")
    if any(d == 0 for d in x.shape[1:]):
        raise InputError(f"{path}: x has shape {x.shape}: a sample with no features; every "
                         "dimension after the first must be at least 1")
    if notes is not None:
        notes += layout_note(path, tuple(x.shape), layout)
    if layout == "channels_last" and x.ndim in (4, 5):
        # (N, H, W, C) -> (N, C, H, W); videos (N, T, H, W, C) -> (N, T, C, H, W); converted once.
        x = np.moveaxis(x, -1, -3)
    if np.issubdtype(x.dtype, np.integer) and x.ndim == 2:
        return np.ascontiguousarray(x, dtype=np.int64), y  # token ids, or counts: settled by prepare
    return np.ascontiguousarray(x, dtype=np.float32), y


def read_npy(folder: Path, layout: str, need_y: bool = True
             ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """`npy:FOLDER`: x.npy memory-mapped (float32 channels-first samples stay on disk, paged in
    as batches touch them, so data larger than RAM trains), y.npy read whole."""
    notes: list[str] = []
    xp, yp = folder / "x.npy", folder / "y.npy"
    for p in (xp, *((yp,) if need_y else ())):
        if not p.is_file():
            raise InputError(f"data.source: {folder}: needs {p.name} (npy:FOLDER holds x.npy "
                             "and y.npy)")
    try:
        x = np.load(xp, mmap_mode="r", allow_pickle=False)
        y = np.load(yp, allow_pickle=False) if need_y else None
    except Exception as err:  # numpy raises many types for a file that is not .npy
        raise InputError(f"{folder}: not readable .npy arrays ({err})") from None
    check_array(xp, "x", x)
    if y is not None:
        check_array(yp, "y", y)
        if len(x) != len(y):
            raise InputError(f"{folder}: x.npy has {len(x)} samples but y.npy has {len(y)}")
    if not 2 <= x.ndim <= 5:
        raise InputError(f"{xp}: x has rank {x.ndim}; allowed: 2 (vectors) to 5 (videos)")
    notes += layout_note(folder, tuple(x.shape), layout)
    if layout == "channels_last" and x.ndim in (4, 5) and x.shape[-1] != 1:
        notes.append(f"{xp}: channels-last images are transposed into memory; save them "
                     "channels-first (and set data.layout) to keep them memory-mapped")
        return np.ascontiguousarray(np.moveaxis(x, -1, -3), dtype=np.float32), y, notes
    if layout == "channels_last" and x.ndim in (4, 5):
        x = x.reshape(*x.shape[:-3], 1, *x.shape[-3:-1])  # one channel: moving it copies nothing
    if np.issubdtype(x.dtype, np.integer) and x.ndim == 2:
        return np.ascontiguousarray(x, dtype=np.int64), y, notes
    if x.dtype != np.float32:
        notes.append(f"{xp}: {x.dtype} values are converted to float32 in memory; save float32 "
                     "to keep them memory-mapped")
        return np.ascontiguousarray(x, dtype=np.float32), y, notes
    return x, y, notes


def check_array(path: Path, name: str, a: np.ndarray) -> None:
    """The one set of rules for arrays from a file: plain numbers, samples on the first axis,
    every value finite (NaN in an array file is never a missing value dltui could guess)."""
    if a.dtype.kind not in _NPZ_KINDS:
        kind = _KIND_NAMES.get(a.dtype.kind, "other")
        raise InputError(f"{path}: array '{name}' has dtype {a.dtype} ({kind}); allowed: bool, "
                         "integer or float arrays")
    if a.ndim == 0:
        raise InputError(f"{path}: array '{name}' is a single value (0-d); it needs one entry per "
                         "sample on its first axis")
    if len(a) == 0:
        raise InputError(f"{path}: array '{name}' has no samples")
    if a.dtype.kind == "f":
        # Blocks of rows: the check's temporaries stay small whatever the array's size.
        step = max(1, (1 << 22) // max(1, a[0].size))
        bad = sum(int(a[s:s + step].size - np.count_nonzero(np.isfinite(a[s:s + step])))
                  for s in range(0, len(a), step))
        if bad:
            nan = int(np.count_nonzero(np.isnan(a)))
            raise InputError(f"{path}: array '{name}' has {bad} non-finite value(s) ({nan} NaN, "
                             f"{bad - nan} infinite); clean or impute them before training")
        if a.dtype.itemsize > 4 and np.abs(a).max() > np.finfo(np.float32).max:
            raise InputError(f"{path}: array '{name}' has values beyond float32's range "
                             f"({np.finfo(np.float32).max:.3g}); rescale it")


_KIND_NAMES = {"U": "text", "S": "bytes", "c": "complex", "M": "datetime", "m": "timedelta",
               "O": "Python objects", "V": "structured"}


def encode_target(raw: np.ndarray, task: str, where: str) -> tuple[np.ndarray, str, list[str]]:
    """Settle the task from the target where it is unambiguous and encode class labels as ids."""
    raw = np.asarray(raw)
    numeric = np.issubdtype(raw.dtype, np.number) or raw.dtype == bool
    if raw.dtype.kind == "f" and raw.ndim == 1 and np.isnan(raw).any():
        raise InputError(f"{where}: the target has {int(np.isnan(raw).sum())} "
                         "missing values; remove those rows")
    counted = None
    if task == "auto":
        if not numeric:
            counted = unique_inverse(raw)
            task = "binary" if len(counted[0]) <= 2 else "multiclass"
        elif raw.ndim > 1 or not (np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool
                                  or np.all(np.equal(np.mod(raw, 1), 0))):
            task = "regression"
        else:
            counted = unique_inverse(raw)
            distinct = len(counted[0])
            task = "binary" if distinct <= 2 else "multiclass" if distinct <= 20 else "regression"
    if task == "regression":
        if not numeric:
            raise InputError(f"{where}: data.task is regression but the target is not numeric")
        return raw.astype(np.float32), task, []
    values, ids = counted if counted is not None else unique_inverse(raw)
    if len(values) < 2:
        fix = "; for a constant quantity set data.task = 'regression' (though there is " \
            "nothing to learn)" if numeric else ""
        raise InputError(f"{where}: the target has a single class ('{values[0]}'); "
                         f"a classifier needs at least two{fix}")
    if task == "binary" and len(values) != 2:
        raise InputError(f"{where}: data.task is binary but the target has {len(values)} classes")
    return ids.astype(np.int64).reshape(-1), task, [str(v) for v in values]
