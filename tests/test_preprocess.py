"""Normalisation and fills are fitted on the training part only; to_categorical."""

from __future__ import annotations

import numpy as np

from dltui.engine.data.preprocess import fit_preprocessing, to_categorical


def test_normalisation_never_sees_validation_rows():
    x = np.concatenate([np.zeros((80, 2)), np.full((20, 2), 1000.0)]).astype(np.float32)
    x[:80] += np.random.default_rng(0).normal(size=(80, 2)).astype(np.float32)
    train = np.arange(80)
    pre = fit_preprocessing(x, train, normalize=True)
    out = pre.apply(x)
    # Training rows come out standardised; validation rows keep their huge offset, which they
    # would lose if their values had entered the statistics.
    assert np.allclose(out[train].mean(0), 0, atol=1e-5)
    assert np.allclose(out[train].std(0), 1, atol=1e-4)
    assert (out[80:] > 100).all()


def test_image_statistics_are_per_channel():
    x = np.random.default_rng(0).normal(size=(50, 2, 4, 4)).astype(np.float32)
    x[:, 1] += 5
    pre = fit_preprocessing(x, np.arange(50), normalize=True)
    assert pre.mean is not None and pre.mean.shape == (2, 1, 1)
    out = pre.apply(x)
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_mean_fill_uses_training_rows_only():
    x = np.array([[1.0], [3.0], [np.nan], [100.0]], dtype=np.float32)
    pre = fit_preprocessing(x, np.array([0, 1, 2]), normalize=False)
    assert pre.apply(x)[2, 0] == 2.0


def test_token_ids_are_left_alone():
    ids = np.array([[1, 2], [3, 4]])
    assert np.array_equal(fit_preprocessing(ids, np.arange(2), True).apply(ids), ids)


def test_to_categorical():
    assert to_categorical(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_nan_is_found_past_infinities_and_overflow():
    """A block's sum flags it: infinities of both signs or an overflowing sum are looked at cell
    by cell, so they are not taken for a NaN, and a NaN in any block, the last row too, is."""
    import warnings

    from dltui.engine.data.preprocess import BLOCK_VALUES, any_nan

    rows = BLOCK_VALUES // 4 * 2 + 3  # three blocks of 4 columns
    x = np.random.default_rng(0).normal(size=(rows, 4)).astype(np.float32)
    x[5, 3], x[6, 3], x[7, 1], x[8, 1] = np.inf, -np.inf, 3e38, 3e38
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not any_nan(x)
        x[-1, 2] = np.nan
        assert any_nan(x)
    assert not any_nan(np.zeros((0, 3), np.float32))


def test_moments_in_shuffled_order_equal_float64s_and_see_a_nan():
    """Statistics from a shuffled training part, gathered in row order, equal float64's; a NaN
    in a training row means a fill (and is seen without a mask of the whole block)."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3000, 5)) * 10 + 3).astype(np.float32)
    train = rng.permutation(3000)[:2000]
    pre = fit_preprocessing(x, train, normalize=True, has_nan=False)
    want = x[train].astype(np.float64)
    np.testing.assert_allclose(pre.mean.reshape(-1), want.mean(0), rtol=1e-6)
    np.testing.assert_allclose(pre.std.reshape(-1), want.std(0), rtol=1e-5)
    x[train[7], 2] = np.nan
    filled = fit_preprocessing(x, train, normalize=True)
    assert filled.fill is not None and np.isfinite(filled.apply(x)).all()
