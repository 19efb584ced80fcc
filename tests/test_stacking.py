"""Every layer type trains stacked (K folds as one model) with each fold's numbers equal to its
sequential training, up to float rounding: Embedding, BatchNorm (per-member statistics),
LSTM/GRU (bidirectional too), PReLU, Conv3D, TimeDistributed and the CTC loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import preset
from dltui.engine import EventBus, Experiment, prepare
from dltui.engine.events import Notice
from dltui.engine.spec import Preset

D = {"type": "Dense"}


def kfold(source: dict, layers: list[dict], loss: str, metrics: list[str], **data) -> dict:
    return {"name": "stack", "data": {**source, **data}, "model": {"layers": layers},
            "train": {"loss": loss, "metrics": metrics, "epochs": 2, "batch_size": 16,
                      "optimizer": "adam", "learning_rate": 0.01},
            "validation": {"scheme": "kfold", "k": 3, "final_fit": False}}


CASES = {
    "embedding+lstm": kfold({"source": "builtin:tokens", "samples": 240, "vocab_size": 50,
                             "timesteps": 12},
                            [{"type": "Embedding", "input_dim": 50, "output_dim": 8},
                             {"type": "LSTM", "units": 6},
                             {**D, "units": 1, "activation": "sigmoid"}],
                            "binary_crossentropy", ["accuracy"]),
    "gru bidirectional, sequences": kfold(
        {"source": "builtin:tokens", "samples": 240, "vocab_size": 30, "timesteps": 10},
        [{"type": "Embedding", "input_dim": 30, "output_dim": 4},
         {"type": "GRU", "units": 5, "return_sequences": True, "bidirectional": True},
         {"type": "LSTM", "units": 4}, {**D, "units": 1, "activation": "sigmoid"}],
        "binary_crossentropy", ["accuracy"]),
    "batchnorm + prelu": kfold({"source": "builtin:iris"},  # 150 rows: parts of 100
                               [{**D, "units": 16, "activation": "prelu"}, {"type": "BatchNorm"},
                                {"type": "Dropout", "rate": 0.0},
                                {**D, "units": 3, "activation": "softmax"}],
                               "sparse_categorical_crossentropy", ["accuracy"]),
    "ctc": kfold({"source": "builtin:ctc_sequences", "samples": 150, "timesteps": 16,
                  "classes": 3},
                 [{"type": "LSTM", "units": 8, "return_sequences": True},
                  {"type": "BatchNorm"}, {**D, "units": 4}],
                 "ctc", ["ser", "sequence_accuracy"]),
    "video: TimeDistributed conv + Conv3D": kfold(
        {"source": "builtin:video_direction", "samples": 120},
        [{"type": "Conv3D", "filters": 3, "kernel_size": 3, "padding": "same",
          "activation": "relu"}, {"type": "MaxPool3D"},
         {"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 4,
                                               "kernel_size": 2, "activation": "relu"}},
         {"type": "TimeDistributed", "layer": {"type": "Flatten"}},
         {"type": "LSTM", "units": 4}, {**D, "units": 4, "activation": "softmax"}],
        "sparse_categorical_crossentropy", ["accuracy"]),
}


def run(raw: dict, runs: Path) -> tuple[dict, list[Notice]]:
    bus, notices = EventBus(), []
    bus.subscribe(lambda e: notices.append(e) if isinstance(e, Notice) else None)
    summary = Experiment(prepare(Preset.model_validate(raw)), runs, bus).run()
    return summary, notices


@pytest.mark.parametrize("case", list(CASES))
def test_stacked_folds_equal_sequential_for_every_layer_type(tmp_path, case):
    raw = CASES[case]
    stacked, notices = run(raw, tmp_path)
    assert stacked["status"] == "done", stacked["message"]
    assert stacked["parallel"] == "3 at once", [n.message for n in notices]
    alone, _ = run(preset(raw, validation={"parallel_folds": False}), tmp_path)
    assert alone["parallel"] == ""
    for a, b in zip(stacked["folds"], alone["folds"], strict=True):
        for key, value in b["last"].items():
            assert a["last"][key] == pytest.approx(value, rel=2e-4, abs=1e-5), (case, key)


def test_batch_norm_stacks_only_over_training_parts_of_one_size(tmp_path):
    """A padded last batch would enter a member's batch statistics: unequal parts fall back,
    and say why."""
    raw = preset(CASES["batchnorm + prelu"], data={"source": "builtin:diabetes"},
                 model={"layers": [{**D, "units": 8, "activation": "relu"},
                                   {"type": "BatchNorm"}, {**D, "units": 1}]},
                 train={"loss": "mse", "metrics": ["mae"]},
                 validation={"k": 4})  # 442 rows: parts of 331 and 332
    summary, notices = run(raw, tmp_path)
    assert summary["parallel"] == ""
    assert any("batch norm with training parts of different sizes" in n.message
               for n in notices if n.code == "parallel-folds")
