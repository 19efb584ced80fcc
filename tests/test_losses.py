"""Losses on logits equal the book's formulas on probabilities; pairings with tasks are checked."""

from __future__ import annotations

import pytest
import torch

from dltui.engine.data.preprocess import to_categorical
from dltui.engine.model.layer_base import ActivationName
from dltui.engine.model.losses import LOSSES, check_pairing
from dltui.engine.model.metrics import METRICS
from dltui.engine.model.modules import activation_modules


def test_binary_crossentropy_on_logits_equals_the_formula_on_probabilities():
    logits = torch.tensor([[2.0], [-1.0], [0.3]])
    y = torch.tensor([[1.0], [0.0], [1.0]])
    p = torch.sigmoid(logits)
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert torch.allclose(LOSSES["binary_crossentropy"].mean(logits, y, "sigmoid"), expected)


def test_categorical_and_sparse_crossentropy_agree():
    logits = torch.randn(5, 4)
    ids = torch.tensor([0, 3, 1, 1, 2])
    onehot = torch.from_numpy(to_categorical(ids.numpy(), 4))
    sparse = LOSSES["sparse_categorical_crossentropy"].mean(logits, ids, "softmax")
    dense = LOSSES["categorical_crossentropy"].mean(logits, onehot, "softmax")
    manual = -(onehot * torch.log_softmax(logits, -1)).sum(-1).mean()
    assert torch.allclose(sparse, dense) and torch.allclose(sparse, manual)


@pytest.mark.parametrize("name", [n for n in LOSSES if n != "ctc"])  # ctc: test_sequences.py
def test_per_sample_mean_equals_the_batch_loss(name):
    loss = LOSSES[name]
    logits = torch.randn(6, 3)
    y = {"column": torch.rand(6, 3).round(), "index": torch.randint(0, 3, (6,)),
         "one_hot": torch.eye(3)[torch.randint(0, 3, (6,))]}[loss.target]
    head = loss.head
    assert torch.allclose(loss.per_sample(logits, y, head).mean(), loss.mean(logits, y, head))


def test_stacked_per_sample_keeps_the_model_axis():
    loss = LOSSES["sparse_categorical_crossentropy"]
    logits, y = torch.randn(3, 5, 4), torch.randint(0, 4, (3, 5))
    stacked = loss.per_sample(logits, y, "softmax", lead=2)
    assert stacked.shape == (3, 5)
    assert torch.allclose(stacked[1], loss.per_sample(logits[1], y[1], "softmax"))


@pytest.mark.parametrize(("loss", "task", "head", "units", "ok"), [
    ("binary_crossentropy", "binary", "sigmoid", 1, True),
    ("binary_crossentropy", "binary", None, 1, False),
    ("binary_crossentropy", "multiclass", "sigmoid", 1, False),
    ("categorical_crossentropy", "multiclass", "softmax", 10, True),
    ("categorical_crossentropy", "multiclass", "softmax", 3, False),
    ("sparse_categorical_crossentropy", "multiclass", "softmax", 10, True),
    ("sparse_categorical_crossentropy", "regression", "softmax", 1, False),
    ("mse", "regression", None, 1, True),
    ("mae", "regression", None, 1, True),
    ("mse", "binary", "sigmoid", 1, False),
])
def test_loss_pairing_with_task_and_last_layer(loss, task, head, units, ok):
    n_out = {"binary": 1, "multiclass": 10, "regression": 1}[task]
    problem = check_pairing(LOSSES[loss], task, (units,), head, n_out)
    assert (problem is None) == ok, problem


@pytest.mark.parametrize("name", ActivationName.__args__)
@pytest.mark.parametrize("shape", [(3,), (5, 3), (3, 4, 6), (2, 3, 4, 6)])
def test_every_activation_builds_and_keeps_the_shape(name, shape):
    x = torch.randn(4, *shape)
    for module in activation_modules(name, shape):
        assert module(x).shape == x.shape


def test_accuracy_counts_hits_for_each_target_form():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    ids = torch.tensor([0, 1, 1])
    assert METRICS["accuracy"](logits, ids, "softmax", "index", 1).tolist() == [1, 1, 0]
    assert METRICS["accuracy"](logits, torch.eye(2)[ids], "softmax", "one_hot", 1).sum() == 2
    binary = METRICS["accuracy"](torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [1.0]]),
                                 "sigmoid", "column", 1)
    assert binary.tolist() == [1, 0]


def test_mae_is_in_target_units():
    out = METRICS["mae"](torch.tensor([[10.0], [20.0]]), torch.tensor([[12.0], [17.0]]), None,
                         "column", 1)
    assert out.tolist() == [2.0, 3.0]
