"""K-fold splitters in numpy, drawing exactly what scikit-learn's KFold, StratifiedKFold, their
Repeated forms and TimeSeriesSplit draw for the same seed (the same generator calls in the same
order; tests/test_splits.py compares them on many sizes and seeds). Importing
`sklearn.model_selection` costs a second of start-up, more than a stacked K-fold run trains for.
Each function returns [(train, val), ...], both sorted, or raises ValueError with
scikit-learn's message."""

from __future__ import annotations

import warnings

import numpy as np

Folds = list[tuple[np.ndarray, np.ndarray]]


def kfold(n: int, k: int, rng: np.random.RandomState | None) -> Folds:
    """`KFold(k, shuffle=rng is not None, random_state=rng).split(range(n))`."""
    _check_k(n, k)
    order = np.arange(n)
    if rng is not None:
        rng.shuffle(order)
    sizes = np.full(k, n // k, dtype=int)
    sizes[: n % k] += 1
    fold_of = np.empty(n, dtype=np.intp)
    fold_of[order] = np.repeat(np.arange(k), sizes)
    return _from_fold_numbers(fold_of, k)


def stratified_kfold(y: np.ndarray, k: int, rng: np.random.RandomState | None) -> Folds:
    """`StratifiedKFold(k, shuffle=rng is not None, random_state=rng).split(y, y)`."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError("Supported target types are: ('binary', 'multiclass'). "
                         "Got 'multilabel-indicator' instead.")
    _check_k(len(y), k)
    _, first_seen, inverse = np.unique(y, return_index=True, return_inverse=True)
    # Classes numbered by order of appearance, as scikit-learn numbers them.
    _, class_rank = np.unique(first_seen, return_inverse=True)
    encoded = class_rank[inverse.ravel()]
    n_classes = len(first_seen)
    counts = np.bincount(encoded)
    if np.all(k > counts):
        raise ValueError(f"n_splits={k} cannot be greater than the number of members in each class.")
    if k > counts.min():
        warnings.warn(f"The least populated class in y has only {counts.min()} members, which is "
                      f"less than n_splits={k}.", UserWarning, stacklevel=2)
    # Round robin over the sorted labels: how many of each class every fold tests on.
    ordered = np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::k], minlength=n_classes) for i in range(k)])
    fold_of = np.empty(len(y), dtype=np.intp)
    for c in range(n_classes):
        folds_for_class = np.arange(k).repeat(allocation[:, c])
        if rng is not None:
            rng.shuffle(folds_for_class)
        fold_of[encoded == c] = folds_for_class
    return _from_fold_numbers(fold_of, k)


def repeated_kfold(y: np.ndarray, k: int, repeats: int, seed: int, stratify: bool) -> Folds:
    """`Repeated(Stratified)KFold(n_splits=k, n_repeats=repeats, random_state=seed)`: one
    generator shared by the repeats, each a shuffled K-fold."""
    rng = np.random.RandomState(seed)
    out: Folds = []
    for _ in range(repeats):
        out += stratified_kfold(y, k, rng) if stratify else kfold(len(y), k, rng)
    return out


def forward_chaining(n: int, k: int) -> Folds:
    """`TimeSeriesSplit(n_splits=k)`: train on everything before a block, validate on it."""
    test_size = n // (k + 1)
    if k + 1 > n:
        raise ValueError(f"Cannot have number of folds={k + 1} greater than the number of samples={n}.")
    if n - test_size * k <= 0:
        raise ValueError(f"Too many splits={k} for number of samples={n} with test_size={test_size} "
                         "and gap=0.")
    idx = np.arange(n)
    return [(idx[:start], idx[start:start + test_size])
            for start in range(n - k * test_size, n, test_size)]


def _check_k(n: int, k: int) -> None:
    if k > n:
        raise ValueError(f"Cannot have number of splits n_splits={k} greater than the number of "
                         f"samples: n_samples={n}.")


def _from_fold_numbers(fold_of: np.ndarray, k: int) -> Folds:
    idx = np.arange(len(fold_of))
    return [(idx[fold_of != f], idx[fold_of == f]) for f in range(k)]
