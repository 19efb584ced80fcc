"""The CUDA path, run for real where a GPU is present (skipped on CPU-only machines)."""

from __future__ import annotations

import pytest
import torch

from conftest import BINARY, REGRESSION, preset
from dltui.engine import Experiment, StopToken, prepare
from dltui.engine.spec import Preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def run(data, tmp_path):
    return Experiment(prepare(Preset.model_validate(data)), tmp_path).run()


def test_training_on_cuda_matches_cpu_closely(tmp_path):
    cpu = run(preset(BINARY, train={"epochs": 8}), tmp_path)
    gpu = run(preset(BINARY, train={"epochs": 8, "device": "cuda"}), tmp_path)
    assert gpu["device"].startswith("cuda")
    assert gpu["val"]["accuracy"] == pytest.approx(cpu["val"]["accuracy"], abs=0.03)


def test_parallel_folds_equal_sequential_on_cuda(tmp_path):
    data = preset(REGRESSION, train={"device": "cuda"})
    par = run(data, tmp_path)
    seq = run(preset(data, validation={"parallel_folds": False}), tmp_path)
    assert par["parallel"]
    for a, b in zip(par["folds"], seq["folds"], strict=True):
        assert a["last"]["mae"] == pytest.approx(b["last"]["mae"], rel=1e-3)


def test_amp_trains(tmp_path):
    summary = run(preset(BINARY, train={"epochs": 10, "device": "cuda", "amp": True}), tmp_path)
    assert summary["status"] == "done" and summary["val"]["accuracy"] > 0.9


def test_no_host_sync_inside_a_cuda_epoch(tmp_path):
    """With sync debug mode on, any synchronising call in the batch loop raises."""
    from dltui.engine.train.loop import SingleTrainee
    from dltui.engine.train.optimizers import make_optimizer

    prep = prepare(Preset.model_validate(preset(BINARY, train={"device": "cuda",
                                                               "batch_size": 8})))
    exp = Experiment(prep, tmp_path)
    split = prep.plan.splits[0]
    tensors, _ = exp.tensors(split.train_idx, {"val": split.val_idx})
    net = exp.new_net(0)
    trainee = SingleTrainee(net, make_optimizer(net, prep.preset.train),
                            exp.setup, tensors, 0)
    trainee.train_epoch(StopToken(), None)  # warm-up: lazy init may sync once
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = trainee.train_epoch(StopToken(), None)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out is not None and out.is_cuda


def test_cuda_graph_steps_equal_eager_steps(tmp_path):
    """On a GPU: a run whose full batches replay a captured CUDA graph ends with the numbers
    of the same run stepped eagerly."""
    data = preset(BINARY, train={"device": "cuda", "batch_size": 16, "epochs": 3})
    eager = run(data, tmp_path)
    graphed = run(preset(data, train={"cuda_graphs": True}), tmp_path)
    for a, b in zip(eager["folds"], graphed["folds"], strict=True):
        for key, value in a["last"].items():
            assert b["last"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
