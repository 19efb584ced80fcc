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
