"""Validation schemes: partitions, reshuffles, stratification, time order, test part, redundancy."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dltui.engine.data.checks import duplicate_count, in_pool, redundancy
from dltui.engine.data.splits import plan_splits
from dltui.engine.errors import InputError
from dltui.engine.spec import ValidationSpec

Y_CLASSES = np.array([0] * 60 + [1] * 30 + [2] * 30)


def test_kfold_validates_every_sample_exactly_once_per_repeat():
    spec = ValidationSpec(scheme="iterated-kfold", k=4, repeats=3)
    plan = plan_splits(Y_CLASSES, "multiclass", spec, False, seed=1)
    assert plan.trainings == 12
    for r in range(3):
        folds = [s for s in plan.splits if s.repeat == r]
        seen = np.concatenate([s.val_idx for s in folds])
        assert sorted(seen) == list(range(len(Y_CLASSES)))
        for s in folds:
            assert not set(s.train_idx) & set(s.val_idx)
            assert len(s.train_idx) + len(s.val_idx) == len(Y_CLASSES)


def test_repeats_reshuffle_and_the_same_seed_repeats_the_partitions():
    spec = ValidationSpec(scheme="iterated-kfold", k=3, repeats=2)
    a = plan_splits(Y_CLASSES, "multiclass", spec, False, seed=7)
    b = plan_splits(Y_CLASSES, "multiclass", spec, False, seed=7)
    assert all(np.array_equal(x.val_idx, y.val_idx) for x, y in zip(a.splits, b.splits, strict=True))
    first = {tuple(s.val_idx) for s in a.splits if s.repeat == 0}
    second = {tuple(s.val_idx) for s in a.splits if s.repeat == 1}
    assert first != second


def test_stratification_keeps_class_ratios_in_every_fold():
    plan = plan_splits(Y_CLASSES, "multiclass", ValidationSpec(scheme="kfold", k=5), False, 0)
    for s in plan.splits:
        counts = np.bincount(Y_CLASSES[s.val_idx], minlength=3)
        assert counts.tolist() == [12, 6, 6]


def test_holdout_shuffles_and_stratifies_by_default():
    plan = plan_splits(Y_CLASSES, "multiclass", ValidationSpec(val_fraction=0.25), False, 0)
    (s,) = plan.splits
    assert np.bincount(Y_CLASSES[s.val_idx]).tolist() == [15, 8, 7] or \
        np.bincount(Y_CLASSES[s.val_idx]).tolist() == [15, 7, 8]
    assert not np.array_equal(s.val_idx, np.arange(90, 120))  # not simply the last rows


def test_time_ordered_splits_never_validate_on_the_past():
    y = np.arange(100, dtype=np.float32)
    for spec in (ValidationSpec(scheme="kfold", k=4), ValidationSpec(val_fraction=0.2,
                                                                     test_fraction=0.1)):
        plan = plan_splits(y, "regression", spec, True, 0)
        for s in plan.splits:
            assert s.val_idx.min() > s.train_idx.max()
        if len(plan.test_idx):
            assert plan.test_idx.min() > max(s.val_idx.max() for s in plan.splits)


def test_shuffling_time_ordered_data_is_an_error_that_explains_why():
    with pytest.raises(InputError, match="arrow of time"):
        plan_splits(np.arange(50.0), "regression", ValidationSpec(shuffle=True), True, 0)
    with pytest.raises(InputError, match="reshuffles"):
        plan_splits(np.arange(50.0), "regression", ValidationSpec(scheme="iterated-kfold"), True, 0)


def test_the_test_part_is_never_in_any_fold():
    spec = ValidationSpec(scheme="iterated-kfold", k=3, repeats=2, test_fraction=0.2)
    plan = plan_splits(Y_CLASSES, "multiclass", spec, False, 3)
    test = set(plan.test_idx)
    assert len(test) == 24
    for s in plan.splits:
        assert not test & set(s.train_idx) and not test & set(s.val_idx)


def test_redundancy_check_finds_planted_duplicates_and_dedupe_removes_them():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = np.arange(100, dtype=np.float32)
    plan = plan_splits(y, "regression", ValidationSpec(scheme="kfold", k=5), False, 0)
    s = plan.splits[0]
    for i, j in zip(s.val_idx[:4], s.train_idx[:4], strict=True):  # plant 4 duplicates in fold 0
        x[i] = x[j]
    _, notices = redundancy(x, plan, dedupe=False)
    # Each planted pair counts in fold 0 and again in the fold that validates its twin.
    assert notices and "8 validation sample(s)" in notices[0].message
    deduped, _ = redundancy(x, plan, dedupe=True)
    assert len(deduped.splits[0].val_idx) == len(s.val_idx) - 4
    clean_x = rng.normal(size=(100, 3)).astype(np.float32)
    assert redundancy(clean_x, plan, dedupe=False)[1] == []


def test_more_folds_than_members_of_a_class_is_reported():
    y = np.array([0] * 20 + [1] * 2)
    plan = plan_splits(y, "binary", ValidationSpec(scheme="kfold", k=5), False, 0)
    assert any("only 2 members" in w for w in plan.warnings)


def test_too_few_samples_for_the_folds_is_a_clear_error():
    with pytest.raises(InputError, match="validation"):
        plan_splits(np.arange(3.0), "regression", ValidationSpec(scheme="kfold", k=5), False, 0)


def test_hold_out_draws_equal_scikit_learns_train_test_split():
    """The hold-out splitter is numpy (no scikit-learn import at start-up) but draws exactly what
    train_test_split draws, stratified or not, for sizes, imbalances and seeds of all kinds."""
    from sklearn.model_selection import train_test_split

    from dltui.engine.data.splits import shuffle_split

    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(10, 400))
        n_test = int(rng.integers(3, n // 2))
        seed = int(rng.integers(0, 2**31))
        classes = int(rng.integers(2, 6))
        weights = rng.dirichlet(np.ones(classes) * (0.5 if case % 3 == 0 else 5))
        y = rng.choice(classes, size=n, p=weights)
        if np.bincount(y, minlength=classes).min() < 2:
            continue
        for stratify in (None, y):
            try:
                theirs = train_test_split(np.arange(n), test_size=n_test, random_state=seed,
                                          stratify=stratify)
            except ValueError:  # both refuse the same impossible stratifications
                with pytest.raises(ValueError):
                    shuffle_split(n, n_test, seed, stratify)
                continue
            ours = shuffle_split(n, n_test, seed, stratify)
            assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1]), \
                (case, stratify is not None)


def test_a_hold_out_run_imports_no_scikit_learn():
    """Start-up: a hold-out plan on in-memory data does not import scikit-learn (~1 s)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from dltui.engine.data.splits import plan_splits\n"
            "from dltui.engine.spec import ValidationSpec\n"
            "y = np.arange(100) % 2\n"
            "plan_splits(y, 'binary', ValidationSpec(), False, 0)\n"
            "assert 'sklearn' not in sys.modules, 'sklearn imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_kfold_draws_equal_scikit_learns_splitters():
    """K-fold, stratified K-fold, their repeated forms and forward chaining are numpy (no
    scikit-learn import at start-up) but draw exactly what scikit-learn draws for the same seed:
    every fold of every case, the same warnings and the same refusals."""
    import warnings

    from sklearn.model_selection import (
        KFold,
        RepeatedKFold,
        RepeatedStratifiedKFold,
        StratifiedKFold,
        TimeSeriesSplit,
    )

    from dltui.engine.data import folds

    def same(ours, theirs, case):
        theirs = list(theirs)
        assert len(ours) == len(theirs), case
        for (a, b), (c, d) in zip(ours, theirs, strict=True):
            assert np.array_equal(a, c) and np.array_equal(b, d), case

    def both(ours, theirs, case):
        with warnings.catch_warnings(record=True) as w_ours:
            warnings.simplefilter("always")
            try:
                mine = ours()
            except ValueError as err:
                with pytest.raises(ValueError, match=re.escape(str(err))):
                    list(theirs())
                return
        with warnings.catch_warnings(record=True) as w_theirs:
            warnings.simplefilter("always")
            same(mine, theirs(), case)
        assert sorted(str(w.message) for w in w_ours) == sorted(
            str(w.message) for w in w_theirs if w.category is UserWarning), case

    def check(n, k, repeats, seed, y):
        idx, case = np.arange(n), (n, k, repeats, seed)
        both(lambda: folds.kfold(n, k, None), lambda: KFold(k).split(idx), case)
        both(lambda: folds.kfold(n, k, np.random.RandomState(seed)),
             lambda: KFold(k, shuffle=True, random_state=seed).split(idx), case)
        both(lambda: folds.stratified_kfold(y, k, np.random.RandomState(seed)),
             lambda: StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y), case)
        both(lambda: folds.stratified_kfold(y, k, None), lambda: StratifiedKFold(k).split(idx, y), case)
        both(lambda: folds.repeated_kfold(y, k, repeats, seed, False),
             lambda: RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=seed).split(idx), case)
        both(lambda: folds.repeated_kfold(y, k, repeats, seed, True),
             lambda: RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats,
                                             random_state=seed).split(idx, y), case)
        both(lambda: folds.forward_chaining(n, k), lambda: TimeSeriesSplit(n_splits=k).split(idx), case)

    rng = np.random.default_rng(1)
    for case in range(250):
        n = int(rng.integers(2, 300))
        k = int(rng.integers(2, 11))
        repeats = int(rng.integers(1, 4))
        seed = int(rng.integers(0, 2**31))
        classes = int(rng.integers(2, 7))
        y = rng.choice(classes, size=n, p=rng.dirichlet(np.ones(classes) * (0.3 if case % 4 == 0 else 4)))
        if case % 5 == 0:  # labels that are not 0..C-1, first seen out of order
            y = np.array([7, -2, 3, 11, 5, 0])[y % 6]
        check(n, k, repeats, seed, y)


def test_a_kfold_plan_imports_no_scikit_learn():
    """Start-up: K-fold (plain, stratified, iterated, forward chaining) plans import no scikit-learn."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from dltui.engine.data.splits import plan_splits\n"
            "from dltui.engine.spec import ValidationSpec\n"
            "y = np.arange(100) % 2\n"
            "plan_splits(y, 'binary', ValidationSpec(scheme='kfold', k=4), False, 0)\n"
            "plan_splits(y, 'binary', ValidationSpec(scheme='iterated-kfold', k=3, repeats=2), False, 0)\n"
            "plan_splits(y.astype(float), 'regression', ValidationSpec(scheme='kfold', k=3), True, 0)\n"
            "assert 'sklearn' not in sys.modules, 'sklearn imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("sizes", [(0, 5), (5, 0), (1, 1), (300, 1000), (1000, 300)])
def test_hash_membership_and_duplicate_counts_equal_numpys(sizes):
    """The redundancy check's sorted search gives np.isin's answer and the doctor's count
    np.unique's, including the largest 64-bit values (searchsorted past the end)."""
    rng = np.random.default_rng(sum(sizes))
    top = np.iinfo(np.uint64).max
    values = rng.integers(0, 60, sizes[0]).astype(np.uint64)
    pool = rng.integers(0, 60, sizes[1]).astype(np.uint64)
    values[::7], pool[::11] = top, top - 1
    assert np.array_equal(in_pool(values, pool), np.isin(values, pool))
    assert duplicate_count(values) == len(values) - len(np.unique(values))
