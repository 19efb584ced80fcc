"""Splitters yield index arrays, never models. Every scheme is drawn in numpy with scikit-learn's
own algorithm (hold-out: ShuffleSplit / StratifiedShuffleSplit here, K-fold in folds.py), tested
equal to scikit-learn's splitters: importing `sklearn.model_selection` costs about a second of
start-up. A split is (repeat, fold, train_idx, val_idx); the test part is carved
off first and is never seen until the end."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..spec import ValidationSpec
from .folds import forward_chaining, kfold, repeated_kfold, stratified_kfold
from .labels import class_counts, unique_inverse


@dataclass(frozen=True)
class Split:
    repeat: int
    fold: int
    train_idx: np.ndarray
    val_idx: np.ndarray


def split_seed(seed: int, split: Split) -> int:
    """The seed of the model trained on a split: its initial weights and its shuffles. Stacked
    and sequential training both use it, which is what makes their results equal."""
    return seed + 1000 * split.repeat + split.fold


@dataclass(frozen=True)
class SplitPlan:
    splits: list[Split]
    test_idx: np.ndarray
    rest_idx: np.ndarray  # every non-test sample: what a final fit trains on
    shuffled: bool
    warnings: list[str] = field(default_factory=list)  # what the splitters warned about
    stratified: bool = False
    scheme: str = "holdout"
    time_ordered: bool = False

    @property
    def trainings(self) -> int:
        return len(self.splits)

    @property
    def forward_chaining(self) -> bool:
        """Time-ordered K-fold: each fold validates on a later stretch than it trains on."""
        return self.scheme == "kfold" and self.time_ordered

    @property
    def repeats(self) -> int:
        return len({s.repeat for s in self.splits})

    def describe(self) -> dict[str, object]:
        """What the splits did, as the summary reports it (read from the splits, not the spec)."""
        return {"scheme": self.scheme, "shuffled": self.shuffled, "stratified": self.stratified,
                "forward_chaining": self.forward_chaining, "repeats": self.repeats,
                "folds": len({s.fold for s in self.splits}), "trainings": self.trainings,
                "test_size": len(self.test_idx)}


def resolve_shuffle(spec: ValidationSpec, time_ordered: bool) -> bool:
    """Whether the splits shuffle, or the one-line reason the scheme cannot do what it says.
    Every face (`check`, `run`, the app) refuses through this one rule."""
    if time_ordered and spec.shuffle:
        raise InputError(
            "validation.shuffle: the data is time-ordered; shuffling it would let the model "
            "train on the future and validate on the past (the arrow of time). Remove "
            "'shuffle = true'")
    if time_ordered and spec.scheme == "iterated-kfold":
        raise InputError(
            "validation.scheme: iterated-kfold reshuffles before each repeat, which time-ordered "
            "data must never be; use 'kfold' (forward chaining) or 'holdout'")
    if spec.scheme == "iterated-kfold" and spec.shuffle is False:
        raise InputError(
            "validation.shuffle: iterated K-fold is K-fold repeated with a new shuffle each time "
            f"(the book: iterated K-fold with shuffling); unshuffled, its {spec.repeats} repeats "
            "would all be the same split. Remove 'shuffle = false', or use scheme = 'kfold'")
    shuffle = not time_ordered if spec.shuffle is None else spec.shuffle
    if spec.scheme == "holdout" and spec.shuffles > 1 and not shuffle:
        why = "the data is time-ordered" if time_ordered else "validation.shuffle = false"
        raise InputError(
            f"validation.shuffles: {spec.shuffles} reshuffled hold-out splits need shuffling, "
            f"but {why}: every split would be the same one. Set shuffles = 1, or use "
            "scheme = 'kfold' to average over several validation parts")
    return shuffle


def plan_splits(y: np.ndarray, task: str, spec: ValidationSpec, time_ordered: bool,
                seed: int, fixed_test: np.ndarray | None = None) -> SplitPlan:
    """`fixed_test`: the rows of a data set's own test set (the book's sets), kept as the test
    part; the validation scheme then splits the rest, `val_fraction` counting from the rest."""
    n = len(y)
    shuffle = resolve_shuffle(spec, time_ordered)
    stratify = spec.stratify and task in ("binary", "multiclass") and shuffle
    test_n = round(spec.test_fraction * n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if fixed_test is not None:
            rest = np.setdiff1d(np.arange(n), fixed_test)
            test = np.sort(fixed_test)
            try:
                splits = _scheme_splits(y[rest], spec, shuffle, stratify, seed, len(rest),
                                        time_ordered)
            except ValueError as err:
                raise InputError(f"validation: {err}") from None
        else:
            rest, test, splits = _carve(y, spec, shuffle, stratify, seed, time_ordered, test_n)
    mapped = [Split(s.repeat, s.fold, rest[s.train_idx], rest[s.val_idx]) for s in splits]
    for s in mapped:
        if len(s.train_idx) == 0 or len(s.val_idx) == 0:
            raise InputError(f"validation: fold {s.fold} would have an empty training or "
                             f"validation part with {n} samples; use fewer folds or more data")
    return SplitPlan(mapped, test, rest, shuffle, sorted({str(w.message) for w in caught}),
                     stratified=stratify, scheme=spec.scheme,
                     time_ordered=time_ordered)


def _carve(y: np.ndarray, spec: ValidationSpec, shuffle: bool, stratify: bool, seed: int,
           time_ordered: bool, test_n: int) -> tuple[np.ndarray, np.ndarray, list[Split]]:
    n = len(y)
    everything = np.arange(n)
    try:
        if test_n == 0:
            rest, test = everything, everything[:0]
        elif not shuffle:  # the most recent samples are the test part
            rest, test = everything[:-test_n], everything[-test_n:]
        else:
            rest, test = shuffle_split(n, test_n, seed, y if stratify else None)
            rest, test = np.sort(everything[rest]), np.sort(everything[test])
        splits = _scheme_splits(y[rest], spec, shuffle, stratify, seed, n, time_ordered)
    except ValueError as err:  # too few members of a class, too few samples, ...
        raise InputError(f"validation: {err}") from None
    return rest, test, splits


def _scheme_splits(y: np.ndarray, spec: ValidationSpec, shuffle: bool, stratify: bool,
                   seed: int, n_total: int, time_ordered: bool) -> list[Split]:
    idx = np.arange(len(y))
    if spec.scheme == "holdout":
        val_n = max(1, round(spec.val_fraction * n_total))
        if val_n >= len(y):
            raise ValueError(f"val_fraction leaves no training samples out of {len(y)}")
        if not shuffle:
            return [Split(0, 0, idx[:-val_n], idx[-val_n:])]
        out = []
        for r in range(spec.shuffles):
            tr, va = shuffle_split(len(idx), val_n, seed + r, y if stratify else None)
            out.append(Split(r, 0, np.sort(tr), np.sort(va)))
        return out
    if spec.scheme == "kfold":
        if time_ordered:  # forward chaining: train on the past, validate on the next block
            folds = forward_chaining(len(idx), spec.k)
        elif not shuffle:
            folds = kfold(len(idx), spec.k, None)
        else:
            rng = np.random.RandomState(seed)
            folds = stratified_kfold(y, spec.k, rng) if stratify else kfold(len(idx), spec.k, rng)
        return [Split(0, f, tr, va) for f, (tr, va) in enumerate(folds)]
    folds = repeated_kfold(y, spec.k, spec.repeats, seed, stratify)
    return [Split(i // spec.k, i % spec.k, tr, va) for i, (tr, va) in enumerate(folds)]


def shuffle_split(n: int, n_test: int, seed: int,
                  y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions as `train_test_split(range(n), test_size=n_test,
    random_state=seed, stratify=y)` draws them: the same generator calls in the same order."""
    rng = np.random.RandomState(seed)
    n_train = n - n_test
    if y is None:
        permutation = rng.permutation(n)
        return permutation[n_test:], permutation[:n_test]
    classes, y_indices = unique_inverse(y)
    counts = class_counts(y_indices, len(classes))
    if counts.min() < 2:
        raise ValueError(f"the least populated classes have only 1 member, too few to stratify: "
                         f"{classes[counts < 2].tolist()}")
    if min(n_train, n_test) < len(classes):
        raise ValueError(f"a part of {min(n_train, n_test)} samples cannot hold each of the "
                         f"{len(classes)} classes")
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for i, members in enumerate(by_class):
        drawn = members.take(rng.permutation(counts[i]), mode="clip")
        train.append(drawn[:n_i[i]])
        test.append(drawn[n_i[i]:n_i[i] + t_i[i]])
    # Arrays, not scikit-learn's Python lists (0.13 s at a million rows): the same permutations.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """scikit-learn's approximate mode of the multivariate hypergeometric: per class, how many of
    `draws` samples a stratified draw takes, ties broken by the generator."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(int)
