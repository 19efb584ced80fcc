"""Data that needs no download: scikit-learn's bundled sets and seeded synthetic generators.

Each loader returns (x, y, task, classes, time_ordered, about).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..spec import DataSpec
from . import sequences
from .book_sets import FILES as BOOK_FILES

BOOK_SETS = tuple(BOOK_FILES)  # downloaded on first use (`book_sets`), named in the messages
Loaded = tuple[np.ndarray, np.ndarray, str, list[str], bool, str]


def _cache_path(name: str) -> Path | None:
    try:
        version = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "dltui" / f"scikit-learn-{version}" / f"{name}.npz"


def _bundled(name: str) -> dict[str, np.ndarray]:
    """A scikit-learn bundled set's arrays. Kept in a cache keyed by scikit-learn's version
    after the first load, since importing scikit-learn costs about a second of every start-up;
    the cache holds the arrays scikit-learn returned, untouched."""
    path = _cache_path(name)
    if path is not None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            with np.load(path, allow_pickle=False) as cached:
                return {k: cached[k] for k in ("data", "target", "target_names", "descr")}
    from sklearn import datasets as skd

    bunch: Any = getattr(skd, f"load_{name}")()
    names = getattr(bunch, "target_names", np.unique(bunch.target))
    arrays = {"data": np.asarray(bunch.data), "target": np.asarray(bunch.target),
              "target_names": np.asarray([str(c) for c in names]),
              "descr": np.asarray(bunch.DESCR)}
    if path is not None:  # a read-only home only costs the next start-up the import again
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return arrays


def _sklearn(name: str) -> Callable[[DataSpec], Loaded]:
    def load(spec: DataSpec) -> Loaded:
        bunch = _bundled(name)
        x = np.asarray(bunch["data"], dtype=np.float32)
        target = bunch["target"]
        if name == "digits" and spec.view == "image":
            x = x.reshape(-1, 1, 8, 8)
        if name == "diabetes":
            return x, target.astype(np.float32), "regression", [], False, str(bunch["descr"])
        classes = [str(c) for c in bunch["target_names"]]
        task = "binary" if len(classes) == 2 else "multiclass"
        return x, target.astype(np.int64), task, classes, False, name
    return load


def _moons(spec: DataSpec) -> Loaded:
    from sklearn.datasets import make_moons

    x, y = make_moons(spec.samples or 1000, noise=0.2 if spec.noise is None else spec.noise,
                      random_state=spec.seed)
    return x.astype(np.float32), y.astype(np.int64), "binary", ["upper", "lower"], False, "moons"


def _circles(spec: DataSpec) -> Loaded:
    from sklearn.datasets import make_circles

    x, y = make_circles(spec.samples or 1000, noise=0.1 if spec.noise is None else spec.noise,
                        factor=0.5, random_state=spec.seed)
    return x.astype(np.float32), y.astype(np.int64), "binary", ["outer", "inner"], False, "circles"


def _tabular(spec: DataSpec) -> Loaded:
    """A large synthetic classification table (scikit-learn's make_classification)."""
    from sklearn.datasets import make_classification

    classes = spec.classes or 10
    features = spec.features or 64
    x, y = make_classification(spec.samples or 200_000, n_features=features,
                               n_informative=max(2, features // 2), n_classes=classes,
                               n_clusters_per_class=1, random_state=spec.seed)
    task = "binary" if classes == 2 else "multiclass"
    return x.astype(np.float32), y.astype(np.int64), task, [str(c) for c in range(classes)], \
        False, "synthetic table"


def _spirals(spec: DataSpec) -> Loaded:
    """Three interleaved spiral arms: a multiclass set no linear model can separate."""
    rng = np.random.default_rng(spec.seed)
    n, arms = spec.samples or 900, 3
    y = np.arange(n) % arms
    t = rng.uniform(0.0, 1.0, n)
    angle = t * 4.0 + y * (2 * np.pi / arms)
    noise = 0.2 if spec.noise is None else spec.noise
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) + rng.normal(0, noise * 0.1, (n, 2))
    return x.astype(np.float32), y.astype(np.int64), "multiclass", ["a", "b", "c"], False, "spirals"


def _sine(spec: DataSpec) -> Loaded:
    """A noisy sum of two sines, cut into windows: predict the next value from the last
    `timesteps` values. Rows are in time order, so splits must respect the arrow of time."""
    rng = np.random.default_rng(spec.seed)
    n, steps = spec.samples or 1200, spec.timesteps or 24
    t = np.arange(n + steps, dtype=np.float64)
    series = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 13)
    series += rng.normal(0, 0.1 if spec.noise is None else spec.noise, t.shape)
    windows = np.lib.stride_tricks.sliding_window_view(series, steps)[:n]
    x = windows[:, :, None].astype(np.float32)
    y = series[steps:steps + n].astype(np.float32)
    return x, y, "regression", [], True, "sine windows -> next value"


BUILTIN: dict[str, Callable[[DataSpec], Loaded]] = {
    "breast_cancer": _sklearn("breast_cancer"),
    "digits": _sklearn("digits"),
    "diabetes": _sklearn("diabetes"),
    "iris": _sklearn("iris"),
    "wine": _sklearn("wine"),
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
    "sine": _sine,
    "tabular": _tabular,
    "tokens": sequences.tokens,
    "ctc_sequences": sequences.ctc_sequences,
    "video_direction": sequences.video_direction,
}
# Which generator settings each synthetic set reads.
PARAMS = {"moons": {"samples", "noise"}, "circles": {"samples", "noise"},
          "spirals": {"samples", "noise"}, "sine": {"samples", "noise", "timesteps"},
          "tabular": {"samples", "features", "classes"},
          "tokens": {"samples", "timesteps", "vocab_size", "noise"},
          "ctc_sequences": {"samples", "timesteps", "classes", "noise"},
          "video_direction": {"samples", "timesteps", "features", "noise"}}


def load_builtin(name: str, spec: DataSpec) -> Loaded:
    if name not in BUILTIN:
        import difflib

        close = difflib.get_close_matches(name, [*BUILTIN, *BOOK_SETS], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise InputError(f"data.source: unknown built-in set '{name}'{hint} "
                         f"(allowed: {', '.join([*BUILTIN, *BOOK_SETS])})")
    for key in ("samples", "noise", "timesteps", "features", "classes", "vocab_size"):
        if getattr(spec, key) is not None and key not in PARAMS.get(name, set()):
            takers = sorted(n for n, keys in PARAMS.items() if key in keys)
            raise InputError(f"data.{key}: '{name}' does not take it (only {', '.join(takers)})")
    if spec.view == "image" and name != "digits":
        raise InputError(f"data.view: 'image' is only for digits and mnist; '{name}' is flat")
    return vectorized(BUILTIN[name](spec), spec)


def vectorized(loaded: Loaded, spec: DataSpec) -> Loaded:
    """`vectorize = "multi_hot"`: token ids become the book's multi-hot vectors. Per sample and
    fitted on nothing, so doing it once at load leaks nothing between splits."""
    if spec.vectorize == "none":
        return loaded
    x, y, task, classes, time_ordered, about = loaded
    if not np.issubdtype(x.dtype, np.integer) or x.ndim != 2:
        raise InputError("data.vectorize: multi_hot needs token ids (samples x timesteps)")
    vocab = spec.vocab_size or int(x.max()) + 1
    return sequences.multi_hot(x, vocab), y, task, classes, time_ordered, about + ", multi-hot"
