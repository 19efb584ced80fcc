"""The book's three warnings as checks run before training: redundancy (a sample in both a training
and an evaluation part), representativeness (classes missing from a part) and small data."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..events import Notice
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


def _duplicated(x: np.ndarray, hashes: np.ndarray, train: np.ndarray,
                evaluated: np.ndarray) -> np.ndarray:
    """For each evaluated sample: do its exact features appear in the training part?"""
    candidates = np.isin(hashes[evaluated], hashes[train])
    if not candidates.any():
        return candidates
    by_hash: dict[int, list[int]] = {}
    wanted = set(hashes[evaluated[candidates]].tolist())
    for i in train.tolist():
        h = int(hashes[i])
        if h in wanted:
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


def representativeness(y: np.ndarray, task: str, plan: SplitPlan) -> list[Notice]:
    if task == "regression":
        return []
    for s in plan.splits:
        missing = set(np.unique(y[s.val_idx])) - set(np.unique(y[s.train_idx]))
        if missing:
            return [Notice("warning", "representativeness",
                           f"fold {s.fold}'s validation part has class(es) {sorted(missing)} that "
                           "its training part never shows; shuffle before splitting "
                           "(validation.shuffle) so both parts represent the data")]
    return []


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
