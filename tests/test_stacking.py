"""Every layer type trains stacked (K folds as one model) with each fold's numbers equal to its
sequential training, up to float rounding: Embedding, BatchNorm (per-member statistics),
LSTM/GRU (bidirectional too), PReLU, Dense on an image's channels, Conv3D, TimeDistributed and
the CTC loss, all drawn with Keras's initialisers and stepped with Keras's update rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import preset
from dltui.engine import EventBus, Experiment, prepare
from dltui.engine.events import Notice
from dltui.engine.spec import Preset

D = {"type": "Dense"}


def kfold(source: dict, layers: list[dict], loss: str, metrics: list[str], k: int = 3,
          batch_size: int = 16, **data) -> dict:
    return {"name": "stack", "data": {**source, **data}, "model": {"layers": layers},
            "train": {"loss": loss, "metrics": metrics, "epochs": 2, "batch_size": batch_size,
                      "optimizer": "adam", "learning_rate": 0.01},
            "validation": {"scheme": "kfold", "k": k, "final_fit": False}}


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
    "dropout (each member's masks from its own generator), ragged parts": kfold(
        {"source": "builtin:iris"},  # 150 rows, K=4: parts of 112 and 113, 8 batches of 15
        [{**D, "units": 16, "activation": "relu"}, {"type": "Dropout", "rate": 0.3},
         {**D, "units": 16, "activation": "relu"}, {"type": "Dropout", "rate": 0.5},
         {**D, "units": 3, "activation": "softmax"}],
        "sparse_categorical_crossentropy", ["accuracy"], k=4, batch_size=15),
    "dense/relu written out, crossentropy": kfold(
        {"source": "builtin:iris"}, [{**D, "units": 16, "activation": "relu"},
                                     {**D, "units": 3, "activation": "softmax"}],
        "sparse_categorical_crossentropy", ["accuracy"]),
    "video: TimeDistributed conv + Conv3D": kfold(
        {"source": "builtin:video_direction", "samples": 120},
        [{"type": "Conv3D", "filters": 3, "kernel_size": 3, "padding": "same",
          "activation": "relu"}, {"type": "MaxPool3D"},
         {"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 4,
                                               "kernel_size": 2, "activation": "relu"}},
         {"type": "TimeDistributed", "layer": {"type": "Flatten"}},
         {"type": "LSTM", "units": 4}, {**D, "units": 4, "activation": "softmax"}],
        "sparse_categorical_crossentropy", ["accuracy"]),
    "image: Dense on the channels, prelu per element, rmsprop in Keras's form": {
        **kfold({"source": "builtin:digits", "view": "image"},
                [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "prelu"},
                 {**D, "units": 3, "activation": "relu"}, {"type": "Flatten"},
                 {**D, "units": 10, "activation": "softmax"}],
                "sparse_categorical_crossentropy", ["accuracy"]),
        "train": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                  "epochs": 2, "batch_size": 16, "optimizer": "rmsprop"}},
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
    k = raw["validation"]["k"]
    assert stacked["parallel"] == f"{k} at once", [n.message for n in notices]
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


@pytest.mark.parametrize("loss", ["mse", "mae", "binary_crossentropy",
                                  "categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("penalised", [False, True])
def test_the_written_out_mlp_step_equals_autograd(loss, ragged, penalised):
    """The hand-written backward of a stacked Dense/ReLU model: the logits and every gradient
    equal what autograd computes, for each loss it covers, with a padded last batch, and with
    each member's own L1/L2 terms (sweep variants stacked together)."""
    import torch

    from dltui.engine.model.losses import LOSSES
    from dltui.engine.stacking.fused_mlp import FusedMLP, fusable
    from dltui.engine.stacking.layers import SLinear
    from dltui.engine.train.optimizers import flatten_parameters

    torch.manual_seed(0)
    k, b, classes = 3, 7, 4
    outs = 1 if loss in ("mse", "mae", "binary_crossentropy") else classes
    head = {"binary_crossentropy": "sigmoid", "mse": None, "mae": None}.get(loss, "softmax")

    def body() -> list[torch.nn.Module]:
        layers = [[torch.nn.Linear(5, 6), torch.nn.Linear(6, 6), torch.nn.Linear(6, outs)]
                  for _ in range(k)]
        return [SLinear([m[0] for m in layers]), torch.nn.ReLU(),
                SLinear([m[1] for m in layers]), torch.nn.ReLU(), SLinear([m[2] for m in layers])]

    mods = body()
    net = torch.nn.Sequential(*mods)
    flatten_parameters(net)
    twin = torch.nn.Sequential(*body())
    twin.load_state_dict(net.state_dict())
    spec = LOSSES[loss]
    assert fusable(mods, spec, head, sample_shape=(5,))
    assert not fusable(mods, spec, head, sample_shape=(3, 5))
    x = torch.randn(k, b, 5)
    if loss == "sparse_categorical_crossentropy":
        y = torch.randint(0, classes, (k, b))
    elif loss == "categorical_crossentropy":
        y = torch.nn.functional.one_hot(torch.randint(0, classes, (k, b)), classes).float()
    else:
        y = torch.rand(k, b, 1).round() if head == "sigmoid" else torch.randn(k, b, 1)
    w = torch.ones(k, b)
    if ragged:
        w[0, -1] = w[2, -1] = 0.0
    # module index -> each member's (l1, l2): members without a term, with one, with both
    terms = {0: (torch.tensor([0.0, 1e-3, 2e-3]), torch.tensor([1e-2, 0.0, 5e-3])),
             4: (torch.zeros(k), torch.full((k,), 1e-3))} if penalised else {}
    logits = FusedMLP(mods, spec, head, terms).step(x, y, w if ragged else None)
    out = twin(x)
    if ragged:
        per = spec.per_sample(out, y, head, lead=2)
        ref = (per * w).sum(1) / w.sum(1)
    else:
        ref = spec.elementwise(out, y, head).flatten(1).mean(1)
    total = ref.sum()
    for index, (l1, l2) in terms.items():
        kernel = twin[index].weight  # (K, in, out): member k's kernel is kernel[k]
        total = total + (l1 * kernel.abs().sum((1, 2))).sum() + (l2 * kernel.square().sum((1, 2))).sum()
    total.backward()
    assert torch.allclose(logits, out.detach(), atol=1e-6)
    for (name, p), q in zip(net.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6), (loss, name)


@pytest.mark.parametrize("width", [16, 64, 256, 1024])
@pytest.mark.parametrize("threads", [1, 2])
def test_dense_folds_stack_at_every_width(width, threads):
    """Dense layers stack as batched products (no extra arithmetic), and stacking saves K-1
    members' per-operation overhead: stacked at every width (bench/stack_width.py measured it
    faster from 16 to 1024)."""
    from dltui.engine.model.layers import Dense
    from dltui.engine.stacking.cost import stacking_cost_reason, step_seconds

    layers = [Dense(units=width, activation="relu"), Dense(units=width, activation="relu"),
              Dense(units=1)]
    assert stacking_cost_reason(layers, (10,), 16, 4, threads) is None
    together = step_seconds(layers, (10,), 16, 4, True, threads)
    assert together < step_seconds(layers, (10,), 16, 4, False, threads)


@pytest.mark.parametrize(("units", "steps", "stacks"), [(32, 200, False), (256, 200, False), (4, 5, True)])
def test_recurrent_folds_stack_only_while_overhead_outweighs_the_extra_arithmetic(units, steps, stacks):
    """Stacked recurrent layers are block-diagonal: K times each member's arithmetic. A 32- or
    256-unit LSTM over 200 steps trains its folds one after another (measured 1.3x and 2.7x
    slower stacked); a tiny one, bound by per-operation overhead, still stacks."""
    from dltui.engine.model.layers import LSTM, Dense, Embedding
    from dltui.engine.stacking.cost import stacking_cost_reason

    layers = [Embedding(input_dim=2000, output_dim=32), LSTM(units=units),
              Dense(units=1, activation="sigmoid")]
    reason = stacking_cost_reason(layers, (steps,), 64, 4, 2)
    assert (reason is None) == stacks
    if not stacks:
        assert reason.startswith("stacked, the recurrent layers would do 4x the arithmetic")


def test_a_text_lstm_kfold_plan_trains_its_folds_one_after_another(tmp_path):
    from dltui.engine import load_preset
    from dltui.engine.stacking.folds import plan_groups

    spec, path = load_preset("text-lstm", ["validation.scheme=kfold", "validation.k=4"])
    prep = prepare(spec, path.parent)
    groups, reason = plan_groups(prep, Experiment(prep, tmp_path).setup)
    assert [len(g) for g in groups] == [1, 1, 1, 1]
    assert "recurrent layers would do 4x the arithmetic" in reason
    spec, path = load_preset("kfold-diabetes")
    prep = prepare(spec, path.parent)
    groups, reason = plan_groups(prep, Experiment(prep, tmp_path).setup)
    assert reason is None and [len(g) for g in groups] == [4]


def test_the_kind_check_agrees_with_stacking_itself():
    """`why_not_stacked` decides from a module's kind what `stack_group` would do (no meta
    tensors stacked): on every module the shipped presets build, and on one with no stacked form."""
    from torch import nn

    from dltui.engine import load_preset
    from dltui.engine.model.build import build_model
    from dltui.engine.presets import shipped_presets
    from dltui.engine.stacking.layers import stack_group, why_not_stacked

    checked = 0
    for name in shipped_presets():
        if name.startswith("book-"):  # their data sets are downloads, absent offline
            continue
        spec, path = load_preset(name)
        prep = prepare(spec, path.parent)
        for module in build_model(spec.model.layers, prep.data.input_shape).body:
            assert why_not_stacked(module) is None, (name, module)
            stack_group([module, module])
            checked += 1
    assert checked > 40
    odd = nn.Bilinear(2, 2, 2)
    assert why_not_stacked(odd) == "Bilinear has no stacked version"
    with pytest.raises(ValueError, match="Bilinear has no stacked version"):
        stack_group([odd])
