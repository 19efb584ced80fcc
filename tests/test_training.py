"""The loop and the run: reproducibility, run folder, parallel folds, failures, no host sync."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from conftest import BINARY, REGRESSION, preset
from dltui.engine import EventBus, Experiment, StopToken, load_preset, prepare
from dltui.engine.events import EpochEnded, FoldEnded, Notice
from dltui.engine.runs.folder import read_events, read_summary
from dltui.engine.runs.model_files import load_weights
from dltui.engine.spec import Preset


def run(data: dict, runs: Path, bus: EventBus | None = None, stop: StopToken | None = None):
    exp = Experiment(prepare(Preset.model_validate(data)), runs, bus, stop)
    summary = exp.run()
    return summary, exp.run_dir


def epoch_lines(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in ("seconds", "samples_per_s")}
            for x in lines if json.loads(x)["event"] == "epoch"]


def test_same_seed_gives_identical_metrics(tmp_path):
    _, a = run(BINARY, tmp_path)
    _, b = run(BINARY, tmp_path)
    assert epoch_lines(a) == epoch_lines(b) and len(epoch_lines(a)) == 3
    _, c = run(preset(BINARY, train={"seed": 1}), tmp_path)
    assert epoch_lines(c) != epoch_lines(a)


def test_run_folder_holds_preset_metrics_summary_and_weights(tmp_path):
    summary, run_dir = run(BINARY, tmp_path)
    assert run_dir.parent == tmp_path and run_dir.name.endswith("-tiny-binary")
    spec, _ = load_preset(run_dir / "preset.toml")
    assert spec.train.epochs == 3
    saved = read_summary(run_dir)
    assert saved == json.loads(json.dumps(summary))
    assert saved["status"] == "done" and 1 <= saved["best_epoch"] <= 3
    assert set(saved["val"]) == {"loss", "accuracy"}
    kinds = [e.kind for e in read_events(run_dir)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended" and kinds.count("epoch") == 3
    state = load_weights(run_dir / "weights" / "r0-f0.safetensors")
    assert state["body.0.weight"].shape == (16, 30)


def test_binary_recipe_learns(tmp_path):
    summary, _ = run(preset(BINARY, train={"epochs": 15}), tmp_path)
    assert summary["val"]["accuracy"] >= 0.93


def test_parallel_folds_equal_sequential_training(tmp_path):
    data = preset(REGRESSION, validation={"test_fraction": 0.2, "final_fit": False})
    par, _ = run(preset(data, validation={"parallel_folds": True}), tmp_path)
    seq, _ = run(preset(data, validation={"parallel_folds": False}), tmp_path)
    assert par["parallel"] == "4 at once" and seq["parallel"] == ""
    for a, b in zip(par["folds"], seq["folds"], strict=True):
        assert (a["repeat"], a["fold"], a["train_size"]) == (b["repeat"], b["fold"], b["train_size"])
        for key in ("loss", "mae"):
            assert a["last"][key] == pytest.approx(b["last"][key], rel=1e-4)
            assert a["test"][key] == pytest.approx(b["test"][key], rel=1e-4)


def test_parallel_folds_equal_sequential_for_a_convnet_classifier(tmp_path):
    data = preset(BINARY, data={"source": "builtin:digits", "view": "image"},
                  model={"layers": [
                      {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
                      {"type": "MaxPool2D"}, {"type": "Flatten"},
                      {"type": "Dense", "units": 10, "activation": "softmax"}]},
                  train={"loss": "sparse_categorical_crossentropy", "epochs": 2},
                  validation={"scheme": "kfold", "k": 3})
    par, _ = run(data, tmp_path)
    seq, _ = run(preset(data, validation={"parallel_folds": False}), tmp_path)
    assert par["parallel"]
    for a, b in zip(par["folds"], seq["folds"], strict=True):
        assert a["last"]["accuracy"] == pytest.approx(b["last"]["accuracy"], abs=1e-6)
        assert a["last"]["loss"] == pytest.approx(b["last"]["loss"], rel=1e-4)


def test_kfold_summary_has_table_curve_and_final_fit(tmp_path):
    data = preset(REGRESSION, validation={"test_fraction": 0.2, "final_fit": True,
                                          "smoothing": 0.5})
    summary, run_dir = run(data, tmp_path)
    assert len(summary["folds"]) == 4
    assert set(summary["kfold"]["mean"]["best"]) == {"loss", "mae"}
    curve = summary["averaged_curve"]
    assert len(curve["values"]) == 3 and 1 <= curve["best_epoch"] <= 3
    fit = summary["final_fit"]
    assert fit["epochs"] == curve["best_epoch"] and "mae" in fit["test"]
    assert (run_dir / "weights" / "final.safetensors").exists()


def test_statistics_are_fitted_per_fold(tmp_path, monkeypatch):
    import dltui.engine.train.experiment as experiment
    from dltui.engine.data import preprocess

    seen: list[int] = []
    real = preprocess.fit_preprocessing

    def spy(x, train_idx, normalize, has_nan=None):
        seen.append(len(train_idx))
        return real(x, train_idx, normalize, has_nan)

    monkeypatch.setattr(experiment, "fit_preprocessing", spy)
    data = preset(REGRESSION, validation={"test_fraction": 0.2})
    summary, _ = run(data, tmp_path)
    # One fit per fold, each on that fold's training part only (never the 354 non-test rows).
    assert sorted(seen) == sorted(r["train_size"] for r in summary["folds"])


def test_divergence_stops_at_once_and_keeps_earlier_epochs(tmp_path):
    data = preset(REGRESSION, train={"learning_rate": 10.0, "optimizer": "sgd", "epochs": 20},
                  validation={"scheme": "holdout"})
    summary, run_dir = run(data, tmp_path)
    assert summary["status"] == "diverged"
    assert "learning_rate" in summary["message"] and "epoch" in summary["message"]
    assert len(epoch_lines(run_dir)) < 20


def test_stop_request_keeps_what_was_computed(tmp_path):
    stop = StopToken()
    bus = EventBus()
    bus.subscribe(lambda e: stop.request() if isinstance(e, EpochEnded) and e.epoch == 2 else None)
    summary, run_dir = run(preset(BINARY, train={"epochs": 50}), tmp_path, bus, stop)
    assert summary["status"] == "stopped" and len(epoch_lines(run_dir)) == 2
    assert summary["folds"][0]["epochs_run"] == 2


def test_early_stopping_and_best_weights(tmp_path):
    data = preset(REGRESSION, train={"epochs": 200, "patience": 2, "restore_best": True,
                                     "learning_rate": 0.05},
                  validation={"scheme": "holdout"})
    bus, ends = EventBus(), []
    bus.subscribe(lambda e: ends.append(e) if isinstance(e, FoldEnded) else None)
    summary, _ = run(data, tmp_path, bus)
    fold = summary["folds"][0]
    assert fold["epochs_run"] == fold["best_epoch"] + 2 < 200


def test_epoch_loop_never_syncs_with_the_host_per_batch(tmp_path, monkeypatch):
    """Reading a tensor's value (.item/.tolist/.cpu/bool) inside the batch loop would stall a GPU."""
    from dltui.engine.train import loop

    calls = {"n": 0}
    for name in ("item", "tolist", "cpu", "__bool__", "numpy"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, **k):
            calls["n"] += 1
            return _real(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, counted)
    prep = prepare(Preset.model_validate(preset(BINARY, train={"batch_size": 8})))
    exp = Experiment(prep, tmp_path)
    tensors, _ = exp.tensors(prep.plan.splits[0].train_idx, {"val": prep.plan.splits[0].val_idx})
    net = exp.new_net(0)
    from dltui.engine.train.optimizers import make_optimizer

    trainee = loop.SingleTrainee(net, make_optimizer(net, prep.preset.train),
                                 exp.setup, tensors, 0)
    calls["n"] = 0
    trainee.train_epoch(StopToken(), None)  # 57 batches
    assert calls["n"] <= 2, f"{calls['n']} host syncs in one epoch"


def test_engine_imports_no_ui_library():
    import ast
    import subprocess
    import sys

    import dltui.engine

    ui = {"textual", "rich", "typer"}
    for path in Path(dltui.engine.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & ui, f"{path.name} imports {names}"
    # scikit-learn may pull in rich for its own progress bars; textual and typer never load.
    code = ("import dltui.engine.train.experiment, dltui.engine.stacking.folds, sys; "
            "print([m for m in ('textual', 'typer') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_holdout_shuffles_report_the_spread_and_the_advice(tmp_path):
    summary, _ = run(preset(BINARY, validation={"shuffles": 3}), tmp_path)
    spread = summary["holdout_spread"]
    assert len(spread["scores"]) == 3 and spread["min"] <= spread["mean"] <= spread["max"]
    assert ("K-fold" in spread["advice"]) == spread["wide"]
    assert len(summary["folds"]) == 3 and {f["repeat"] for f in summary["folds"]} == {0, 1, 2}


def test_early_stopping_per_fold_matches_sequential_when_stacked(tmp_path):
    data = preset(REGRESSION, train={"epochs": 60, "patience": 2, "learning_rate": 0.05})
    par, _ = run(data, tmp_path)
    seq, _ = run(preset(data, validation={"parallel_folds": False}), tmp_path)
    assert par["parallel"]
    for a, b in zip(par["folds"], seq["folds"], strict=True):
        assert a["epochs_run"] == b["epochs_run"] < 60
        assert a["last"]["mae"] == pytest.approx(b["last"]["mae"], rel=1e-3)


@pytest.mark.parametrize("preset_name", ["binary-breast-cancer", "kfold-diabetes"])
def test_a_small_run_imports_only_what_it_needs(tmp_path, preset_name):
    """Start-up of `dltui run`, hold-out and stacked K-fold: no scikit-learn (bundled sets come
    from dltui's cache after the first load, every split is numpy), no torch compiler stack
    (dltui's own optimizer, MACs counted from shapes, stackability decided from layer kinds), no
    pandas, no app library. Read from `-X importtime`, so lazy imports count too."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-X", "importtime", "-m", "dltui.tui", "run", preset_name, "--json",
           "--set", "train.epochs=2"]

    def imported() -> set[str]:
        done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-2000:]
        assert '"status": "done"' in done.stdout
        names = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        return {n.split(".")[0] if not n.startswith("torch.") else ".".join(n.split(".")[:2])
                for n in names}

    assert "sklearn" in imported()  # the first load reads scikit-learn's copy of the data
    heavy = {"sklearn", "torch._dynamo", "torch._inductor", "sympy", "textual", "pandas",
             "pyarrow", "scipy", "ray", "onnx", "tensorboard"}
    assert imported() & heavy == set()


def test_cuda_graphs_asked_for_on_a_cpu_say_why_they_are_not_used(tmp_path):
    bus, notices = EventBus(), []
    bus.subscribe(lambda e: notices.append(e.message) if isinstance(e, Notice) else None)
    summary, _ = run(preset(BINARY, train={"cuda_graphs": True, "device": "cpu"}), tmp_path, bus)
    assert summary["status"] == "done"
    assert "train.cuda_graphs: not used (CUDA graphs need a CUDA device)" in notices


def test_batch_progress_goes_out_at_most_ten_times_a_second(tmp_path):
    """Each progress event costs an interface drawing in the same interpreter training time, so
    they are spaced by time, not by batch count; a run of many small batches still reports."""
    import time

    from dltui.engine.events import BatchProgress
    from dltui.engine.train.loop import PROGRESS_SECONDS

    bus, seen = EventBus(), []
    bus.subscribe(lambda e: seen.append(time.monotonic()) if isinstance(e, BatchProgress) else None)
    started = time.monotonic()
    run(preset(BINARY, train={"epochs": 40, "batch_size": 4}), tmp_path, bus)
    seconds = time.monotonic() - started
    assert len(seen) >= 2
    assert len(seen) <= seconds / PROGRESS_SECONDS + 1
    assert min(b - a for a, b in itertools.pairwise(seen)) >= PROGRESS_SECONDS * 0.99


def test_run_with_progress_prints_a_line_per_epoch_as_keras_fit_does(tmp_path, capsys):
    from dltui.engine import Experiment, ProgressPrinter, prepare
    from dltui.engine.spec import Preset

    raw = preset(BINARY, train={"epochs": 3}, validation={"scheme": "kfold", "k": 2})
    experiment = Experiment(prepare(Preset.model_validate(raw)), str(tmp_path))
    summary = experiment.run(progress=True)
    lines = capsys.readouterr().out.splitlines()
    epochs = [ln for ln in lines if " epoch " in ln and " - " in ln]
    assert len(epochs) == 6  # 2 folds x 3 epochs
    assert epochs[0].startswith("r0 f0 epoch 1/3 - ") and "val_loss: " in epochs[0]
    assert any(ln.startswith("r0 f1: best epoch") for ln in lines)
    assert lines[-1].startswith("done in ") and "val accuracy" in lines[-1]
    assert summary["kfold"]
    assert not any(isinstance(s, ProgressPrinter) for s in experiment.bus._subscribers)
    assert callable(ProgressPrinter())
