"""The book's three warnings as checks run before training: redundancy (a sample in both a training
and an evaluation part), representativeness (a part whose class mix is far from the other's) and
small data."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..events import Notice
from .labels import class_counts
from .splits import SplitPlan

_HASH_WORDS = 1 << 22  # words hashed per block (32 MB as uint64), whatever the data's size


def row_hashes(x: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bytes, in numpy: the row's 32-bit (or 8-bit) words times
    fixed random odd multipliers, summed mod 2^64. Equal rows always hash equal; unequal rows
    almost never do, and `_same_rows` confirms every match, so a collision cannot count."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    raw = flat.view(np.uint8).reshape(len(flat), -1)
    words = raw.view(np.uint32) if raw.shape[1] % 4 == 0 else raw
    mult = np.random.default_rng(20240229).integers(1, 2**63, size=words.shape[1],
                                                     dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    out = np.empty(len(words), dtype=np.uint64)
    step = max(1, _HASH_WORDS // max(1, words.shape[1]))
    with np.errstate(over="ignore"):
        for s in range(0, len(words), step):
            out[s:s + step] = words[s:s + step].astype(np.uint64) @ mult
    return out


def in_pool(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """`np.isin(values, pool)` for 64-bit hashes, through one sort and a binary search: numpy
    2.4's `isin` and `unique` take 0.35-0.49 s on a million hashes, where a sort takes 0.03 s."""
    if not len(pool):
        return np.zeros(len(values), dtype=bool)
    pool = np.sort(pool)
    at = np.minimum(np.searchsorted(pool, values), len(pool) - 1)
    return pool[at] == values


def duplicate_count(hashes: np.ndarray) -> int:
    """Rows whose hash an earlier row has (len(hashes) - len(np.unique(hashes)), sorted once)."""
    ordered = np.sort(hashes)
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


def _duplicated(x: np.ndarray, hashes: np.ndarray, train: np.ndarray,
                evaluated: np.ndarray) -> np.ndarray:
    """For each evaluated sample: do its exact features appear in the training part?"""
    candidates = in_pool(hashes[evaluated], hashes[train])
    if not candidates.any():
        return candidates
    wanted = hashes[evaluated[candidates]]
    matching = train[in_pool(hashes[train], wanted)]  # the training rows that may be equal
    by_hash: dict[int, list[int]] = {}
    for i, h in zip(matching.tolist(), hashes[matching].tolist(), strict=True):
        by_hash.setdefault(h, []).append(i)
    flat = x.reshape(len(x), -1)
    for pos in np.flatnonzero(candidates):
        i = evaluated[pos]
        candidates[pos] = any(np.array_equal(flat[i], flat[j]) for j in by_hash[int(hashes[i])])
    return candidates


def redundancy(x: np.ndarray, plan: SplitPlan, dedupe: bool) -> tuple[SplitPlan, list[Notice]]:
    """Count evaluation samples whose exact features also appear in the matching training part;
    with `dedupe`, drop them from the evaluation side. Exact equality is the same before and
    after standardisation (it is one affine map per split), so raw rows are compared."""
    hashes = row_hashes(x)
    notices: list[Notice] = []
    counts, splits = [], []
    for s in plan.splits:
        dup = _duplicated(x, hashes, s.train_idx, s.val_idx)
        counts.append(int(dup.sum()))
        if dedupe and dup.any():
            s = dataclasses.replace(s, val_idx=s.val_idx[~dup])
        splits.append(s)
    test = plan.test_idx
    test_dups = 0
    if len(test):
        dup = _duplicated(x, hashes, plan.rest_idx, test)
        test_dups = int(dup.sum())
        if dedupe:
            test = test[~dup]
    if any(counts) or test_dups:
        where = f"{sum(counts)} validation sample(s) over {len(counts)} split(s)"
        if test_dups:
            where += f" and {test_dups} test sample(s)"
        action = ("removed from the evaluation side (dedupe = true)" if dedupe else
                  "set validation.dedupe = true to remove them from the evaluation side")
        notices.append(Notice("warning", "redundancy",
                              f"{where} also appear in the training data, so the validation "
                              f"score is optimistic; {action}"))
    if dedupe:
        for s in splits:
            if len(s.val_idx) == 0:
                raise InputError("validation.dedupe: removing duplicates leaves fold "
                                 f"{s.fold} with no validation samples")
    return dataclasses.replace(plan, splits=splits, test_idx=test), notices


MIX_DISTANCE = 0.25  # total variation between the parts' class mixes; random splits stay near 0.1


def representativeness(y: np.ndarray, task: str, plan: SplitPlan,
                       names: Sequence[str] = ()) -> list[Notice]:
    """The book's representativeness warning: a validation part should hold the classes in about
    the proportions its training part does. A missing class is the extreme case; data sorted by
    class and split without shuffling is the usual cause."""
    if task not in ("binary", "multiclass"):
        return []
    # Time-ordered data must not be shuffled (the arrow of time): there the warning only says so.
    fix = ("the class mix changes along the data's time order, so the validation score measures "
           "a different mix than the model learned from" if plan.time_ordered else
           "shuffle before splitting (validation.shuffle) so both parts represent the data")
    k = max(len(names), int(y.max()) + 1 if len(y) else 0)
    mixes = [(class_counts(y[s.train_idx], k), class_counts(y[s.val_idx], k)) for s in plan.splits]
    for s, (train_n, val_n) in zip(plan.splits, mixes, strict=True):
        missing = np.flatnonzero((val_n > 0) & (train_n == 0))
        if len(missing):
            shown = [names[int(m)] if len(names) > int(m) else int(m) for m in sorted(missing)]
            return [Notice("warning", "representativeness",
                           f"{_part(plan, s)}'s validation part has class(es) {shown} "
                           f"that its training part never shows; {fix}")]
    worst, at = 0.0, None
    classes = np.flatnonzero(class_counts(y, k))
    for s, (train_n, val_n) in zip(plan.splits, mixes, strict=True):
        train = train_n[classes] / max(1, len(s.train_idx))
        val = val_n[classes] / max(1, len(s.val_idx))
        distance = 0.5 * float(np.abs(train - val).sum())
        if distance > worst:
            worst, at = distance, (s, classes, train, val)
    if at is None or worst <= MIX_DISTANCE:
        return []
    s, classes, train, val = at
    c = int(np.argmax(val - train))
    label = names[int(classes[c])] if len(names) > int(classes[c]) else int(classes[c])
    sorted_note = "the data looks sorted by class: " if not (plan.shuffled or plan.time_ordered) else ""
    return [Notice("warning", "representativeness",
                   f"{_part(plan, s)}'s validation part is {val[c]:.0%} class {label!r} where "
                   f"its training part is {train[c]:.0%} (the class mixes differ by {worst:.0%}); "
                   f"{sorted_note}{fix}")]


def _part(plan: SplitPlan, s: Any) -> str:
    if plan.scheme == "holdout":
        return "the hold-out split" if plan.trainings == 1 else f"shuffle {s.repeat}"
    return f"fold {s.fold}" if plan.repeats == 1 else f"repeat {s.repeat} fold {s.fold}"


def token_ids(x: np.ndarray, embedding: Any) -> None:
    """An id outside the Embedding's table would index past it mid-training (or wrap round
    silently on some devices): refuse before training, naming the setting to change."""
    if np.issubdtype(x.dtype, np.floating):
        raise InputError("model.layers[0] (Embedding): the data holds real-valued features, "
                         "not integer token ids")
    lo, hi = int(x.min()), int(x.max())
    if lo < 0:
        raise InputError(f"model.layers[0] (Embedding): the data has negative token id {lo}; "
                         "ids must be 0 or more")
    if hi >= embedding.input_dim:
        raise InputError(f"model.layers[0].input_dim: the data's largest token id is {hi}, so "
                         f"input_dim must be at least {hi + 1} (now {embedding.input_dim})")


def output_activation(layers: Sequence[Any]) -> str:
    """The activation applied last in the model (Dropout and Flatten change no values)."""
    for layer in reversed(layers):
        kind = layer.type
        if kind in ("Dropout", "Flatten"):
            continue
        if kind == "TimeDistributed":
            return output_activation([layer.layer])
        return getattr(layer, "activation", "linear") if kind != "Activation" else layer.activation
    return "linear"
