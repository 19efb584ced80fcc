"""Sequences, video and CTC: target packing, greedy decoding, edit distance, shapes, presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import dltui
from dltui.engine.data.dataset import load_data
from dltui.engine.data.sequences import multi_hot
from dltui.engine.model.build import build_model
from dltui.engine.model.layers import (
    LSTM,
    Conv2D,
    Conv3D,
    Dense,
    Flatten,
    MaxPool2D,
    MaxPool3D,
    TimeDistributed,
)
from dltui.engine.model.losses import LOSSES, target_lengths
from dltui.engine.model.metrics import edit_distance, greedy_decode, sequence_accuracy, symbol_error_rate
from dltui.engine.model.shapes import layer_rows
from dltui.engine.spec import DataSpec
from dltui.tui.layer_syntax import format_layer, parse_layer


def one_hot_frames(path: list[int], classes: int = 4) -> torch.Tensor:
    """Logits that make `path` the best path exactly."""
    return F.one_hot(torch.tensor(path), classes).float() * 10


def test_targets_are_packed_by_their_padding():
    y = torch.tensor([[2, 1, 3, 0, 0], [1, 0, 0, 0, 0], [3, 3, 1, 2, 1]])
    assert target_lengths(y).tolist() == [3, 1, 5]


def test_ctc_loss_equals_torch_on_packed_targets():
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 4)
    y = torch.tensor([[1, 2, 0], [3, 3, 1]])
    packed = torch.tensor([1, 2, 3, 3, 1])
    expected = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), packed, torch.tensor([7, 7]),
                          torch.tensor([2, 3]), blank=0, reduction="mean")
    assert torch.allclose(LOSSES["ctc"].mean(logits, y, None), expected)


@pytest.mark.parametrize(("path", "decoded"), [
    ([0, 1, 1, 0, 2, 2, 2, 0], [1, 2]),  # repeats collapse, blanks drop
    ([1, 0, 1, 1, 0, 0, 3], [1, 1, 3]),  # a blank separates a real repeat
    ([0, 0, 0], []),
    ([2, 3, 3, 2], [2, 3, 2]),
])
def test_greedy_decoding(path, decoded):
    assert greedy_decode(one_hot_frames(path)[None]) == [decoded]


@pytest.mark.parametrize(("a", "b", "distance"), [
    ([1, 2, 3], [1, 2, 3], 0),
    ([1, 2, 3], [1, 3], 1),  # one deletion
    ([1, 3], [1, 2, 3], 1),  # one insertion
    ([1, 2, 3], [1, 4, 3], 1),  # one substitution
    ([], [1, 2], 2),
    ([3, 2, 1], [1, 2, 3], 2),
    ([1, 1, 2, 2], [2, 1, 1], 3),  # hand-worked: kitten/sitting style
])
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance


def test_symbol_error_rate_and_sequence_accuracy_by_hand():
    logits = torch.stack([one_hot_frames([1, 0, 2, 2]), one_hot_frames([1, 1, 0, 3])])
    y = torch.tensor([[1, 2, 0], [1, 2, 3]])  # decoded: [1, 2] and [1, 3]
    assert symbol_error_rate(logits, y, None, "sequence", 1).tolist() == [0.0, pytest.approx(1 / 3)]
    assert sequence_accuracy(logits, y, None, "sequence", 1).tolist() == [1.0, 0.0]


@pytest.mark.parametrize(("layers", "in_shape", "out"), [
    ([TimeDistributed(layer=Conv2D(filters=4)), TimeDistributed(layer=MaxPool2D()),
      TimeDistributed(layer=Flatten()), LSTM(units=6)], (5, 1, 8, 8), (6,)),
    ([Conv3D(filters=3, kernel_size=3), MaxPool3D(pool_size=2), Flatten(), Dense(units=2)],
     (6, 1, 8, 8), (2,)),
    ([LSTM(units=4, return_sequences=True, bidirectional=True), LSTM(units=3), Dense(units=1)],
     (9, 2), (1,)),
    ([LSTM(units=5, return_sequences=True), Dense(units=6)], (9, 2), (9, 6)),
])
def test_shapes_through_time_layers(layers, in_shape, out):
    rows = layer_rows(layers, in_shape)
    assert rows[-1].out_shape == out and all(r.error is None for r in rows)
    net = build_model(layers, in_shape)
    assert tuple(net(torch.randn(2, *in_shape)).shape[1:]) == out


def test_time_distributed_explains_a_bad_inner_layer():
    rows = layer_rows([TimeDistributed(layer=Conv2D(filters=2))], (5, 4))
    assert rows[0].error and "on each step (4,)" in rows[0].error


def test_layer_syntax_round_trips_time_distributed():
    layer = parse_layer("TimeDistributed Conv2D 8 3 relu")
    assert isinstance(layer, TimeDistributed) and layer.layer.filters == 8
    assert parse_layer(format_layer(layer)) == layer


def test_multi_hot_marks_each_word_once():
    ids = np.array([[3, 1, 3, 0], [2, 0, 0, 0]])
    assert multi_hot(ids, 5).tolist() == [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0]]


def test_builtin_sequence_sets():
    tokens = load_data(DataSpec(source="builtin:tokens", samples=100, vocab_size=50))
    assert tokens.x.dtype == np.int64 and tokens.x.max() < 50 and tokens.task == "binary"
    ctc = load_data(DataSpec(source="builtin:ctc_sequences", samples=50, timesteps=20))
    assert ctc.task == "sequence" and ctc.input_shape == (20, 6)
    assert (target_lengths(torch.from_numpy(ctc.y)) >= 1).all()
    video = load_data(DataSpec(source="builtin:video_direction", samples=20))
    assert video.x.ndim == 5 and video.classes == ["right", "left", "down", "up"]


def test_npz_sequence_targets(tmp_path):
    path = tmp_path / "seq.npz"
    np.savez(path, x=np.random.rand(10, 12, 3).astype(np.float32),
             y=np.array([[1, 2, 0]] * 10))
    data = load_data(DataSpec(source=f"npz:{path}", task="sequence"))
    assert data.task == "sequence" and data.classes == ["<blank>", "1", "2"]


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "metric", "better_than"), [
    ("text-multihot", "accuracy", 0.7),
    ("text-lstm", "accuracy", 0.6),
    ("video-direction", "accuracy", 0.5),
])
def test_sequence_presets_beat_chance(tmp_path, preset, metric, better_than):
    proc = dltui("run", preset, "--json", "--runs-dir", str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json

    summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
    assert summary["val"][metric] > better_than


@pytest.mark.slow
def test_ctc_preset_reaches_symbol_error_rate_under_a_tenth(tmp_path):
    import json

    proc = dltui("run", "ctc-sequences", "--json", "--runs-dir", str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
    assert summary["val"]["ser"] < 0.10


def test_ctc_with_a_flat_output_is_a_clear_error(write_preset):
    from conftest import BINARY, preset

    data = preset(BINARY, data={"source": "builtin:ctc_sequences", "samples": 50},
                  model={"layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 6}]},
                  train={"loss": "ctc", "metrics": ["ser"]})
    proc = dltui("run", str(write_preset(data)))
    assert proc.returncode == 2 and "return_sequences" in proc.stderr


def test_ctc_trains_under_kfold(tmp_path):
    from dltui.engine import Experiment, prepare
    from dltui.engine.spec import Preset

    data = {"data": {"source": "builtin:ctc_sequences", "samples": 60, "timesteps": 20},
            "model": {"layers": [{"type": "GRU", "units": 8, "return_sequences": True},
                                 {"type": "Dense", "units": 6}]},
            "train": {"loss": "ctc", "metrics": ["ser"], "epochs": 1, "batch_size": 16,
                      "device": "cpu"},
            "validation": {"scheme": "kfold", "k": 3}}
    summary = Experiment(prepare(Preset.model_validate(data)), tmp_path).run()
    assert summary["status"] == "done" and len(summary["folds"]) == 3
    assert summary["parallel"] == "3 at once"  # ctc stacks like every other loss
    assert summary["kfold"]["mean"]["best"]["ser"] >= 0  # insertions can push it past 1
