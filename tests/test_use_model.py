"""Use what a run trained: predictions reproduce what training computed for the same rows,
ensembles average the folds, exports run without dltui, curves reach TensorBoard, errors are
reported, and runs resume to the uninterrupted result."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import BINARY, REGRESSION, dltui, preset
from dltui.engine import load_run
from dltui.engine.runs.model_files import load_arrays, load_weights

MESSY_CSV = "id,colour,size,weight,label\n" + "".join(
    f"{i},{['red', 'blue', 'green'][i % 3] if i % 11 else ''},{(i * 7) % 13 / 3:.3f},"
    f"{'' if i % 9 == 4 else f'{(i * 5) % 17 + 0.5:.2f}'},{'yes' if (i * 7) % 13 > 5 else 'no'}\n"
    for i in range(160))


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> tuple[Path, Path]:
    """A CSV with a text column, missing features (mean fill) and a dropped id column."""
    root = tmp_path_factory.mktemp("csvrun")
    (root / "train.csv").write_text(MESSY_CSV)
    spec = preset(BINARY, data={"source": "csv:train.csv", "target": "label", "drop": ["id"],
                                "missing": "mean"}, train={"epochs": 8})
    (root / "p.toml").write_text(tomli_w.dumps(spec))
    result = dltui("run", "p.toml", "--runs-dir", "runs", cwd=root)
    assert result.returncode == 0, result.stderr
    return root, only_run(root / "runs")


def read_predictions(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_predicting_held_back_csv_rows_gives_what_training_computed(csv_run):
    root, run = csv_run
    saved = load_arrays(run / "predictions" / "val-r0-f0.npz")
    lines = MESSY_CSV.splitlines()
    header = lines[0].split(",")
    held = [lines[1 + r] for r in saved["rows"]]
    # The target column is optional at prediction time: leave it out.
    keep = [i for i, h in enumerate(header) if h != "label"]
    body = "\n".join(",".join(row.split(",")[i] for i in keep) for row in [lines[0], *held])
    (root / "held.csv").write_text(body + "\n")
    result = dltui("predict", str(run), "held.csv", "--model", "fold 0", cwd=root)
    assert result.returncode == 0, result.stderr
    rows = read_predictions(result.stdout)
    assert [int(r["row"]) for r in rows] == list(range(len(held)))
    probs = np.array([float(r["p(yes)"]) for r in rows], dtype=np.float32)
    assert np.array_equal(probs, saved["outputs"][:, 0])
    labels = [r["predicted"] for r in rows]
    assert labels == ["yes" if p > 0.5 else "no" for p in saved["outputs"][:, 0]]
    assert all(abs(float(r["p(no)"]) + float(r["p(yes)"]) - 1) < 1e-6 for r in rows)


def test_predict_refuses_missing_columns_and_warns_about_unseen_categories(csv_run):
    root, run = csv_run
    (root / "bad.csv").write_text("id,colour,size\n1,red,0.5\n")
    result = dltui("predict", str(run), "bad.csv", cwd=root)
    assert result.returncode == 2 and "no column 'weight'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (root / "new.csv").write_text("id,colour,size,weight\n1,purple,0.5,3\n2,red,1,2\n")
    result = dltui("predict", str(run), "new.csv", "--out", "out.csv", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "categories the model never saw (e.g. 'purple')" in result.stderr
    assert len(read_predictions((root / "out.csv").read_text())) == 2


def test_evaluate_scores_new_labelled_rows(csv_run):
    root, run = csv_run
    result = dltui("evaluate", str(run), "train.csv", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["samples"] == 160 and 0.5 < scores["mean"]["accuracy"] <= 1.0
    table = dltui("evaluate", str(run), "train.csv", cwd=root)
    assert "accuracy" in table.stdout and "r0-f0" in table.stdout


def test_report_shows_the_confusion_matrix_of_validation_rows(csv_run):
    root, run = csv_run
    result = dltui("report", str(run), "--json", cwd=root)
    report = json.loads(result.stdout)
    total = np.array(report["confusion_total"])
    assert total.shape == (2, 2) and total.sum() == 32  # 20% of 160 rows
    wrong = report["confidently_wrong"]
    assert len(wrong) == total.sum() - np.trace(total) or len(wrong) == 10
    shown = dltui("report", str(run), cwd=root).stdout
    assert "confusion matrix" in shown and "precision" in shown


def test_kfold_ensemble_is_the_mean_of_the_fold_models(tmp_path, write_preset):
    p = write_preset(preset(REGRESSION, validation={"scheme": "kfold", "k": 3}))
    assert dltui("run", str(p), "--runs-dir", str(tmp_path / "runs")).returncode == 0
    model = load_run(only_run(tmp_path / "runs"))
    x = np.random.default_rng(0).normal(size=(7, 10)).astype(np.float32)
    folds = [model.predict(x, f"fold {k}").outputs for k in range(3)]
    ensemble = model.predict(x)
    assert ensemble.model == "ensemble"
    assert np.allclose(ensemble.outputs, np.mean(folds, axis=0), atol=0, rtol=1e-6)
    regression = model.predict(x, "fold 1").columns()
    assert regression[0] == ["row", "predicted"]


def test_the_shipped_binary_preset_round_trips_through_an_npz(tmp_path):
    result = dltui("run", "binary-breast-cancer", "--set", "train.epochs=3",
                   "--runs-dir", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    run = only_run(tmp_path / "r")
    saved = load_arrays(run / "predictions" / "val-r0-f0.npz")
    from sklearn.datasets import load_breast_cancer

    x = load_breast_cancer().data.astype(np.float32)[saved["rows"]]
    np.savez(tmp_path / "held.npz", x=x)
    preds = load_run(run).predict(tmp_path / "held.npz")
    assert np.array_equal(preds.outputs, saved["outputs"])


EXPORT_CHECK = """
import sys, numpy as np
fmt, path, data = sys.argv[1:4]
x = np.load(data)["x"]
if fmt == "pt2":
    import torch
    out = torch.export.load(path).module()(torch.from_numpy(x)).detach().numpy()
elif fmt == "torchscript":
    import torch
    out = torch.jit.load(path)(torch.from_numpy(x)).detach().numpy()
else:
    import onnxruntime
    out = onnxruntime.InferenceSession(path).run(None, {"x": x})[0]
assert not [m for m in sys.modules if m.startswith("dltui")], "dltui was imported"
np.save(sys.argv[4], out)
"""


@pytest.mark.parametrize("fmt", ["pt2", "torchscript", "onnx"])
def test_exports_run_in_a_fresh_process_without_dltui(csv_run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    root, run = csv_run
    model = load_run(run)
    inputs = model.inputs(root / "train.csv")
    data = tmp_path / "x.npz"
    np.savez(data, x=inputs.x[:25])  # with NaN cells: the mean fill is inside the graph
    assert np.isnan(inputs.x[:25]).any()
    target = tmp_path / f"m.{fmt}"
    result = dltui("export", str(run), "--format", fmt, "--model", "fold 0", "--out", str(target))
    assert result.returncode == 0, result.stderr
    script = tmp_path / "check.py"
    script.write_text(EXPORT_CHECK)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script), fmt, str(target), str(data),
                           str(tmp_path / "out.npy")], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = model.predict(inputs.x[:25], "fold 0").outputs
    assert np.allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_curves_export_to_tensorboard_as_keras_writes_them(csv_run, tmp_path):
    """One tag per quantity under `train` and `validation` runs (TensorBoard overlays them), the
    learning rate, each fold its own run; a second export replaces the first."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _root, run = csv_run
    for _ in range(2):
        result = dltui("export", str(run), "--format", "tensorboard", "--out", str(tmp_path / "tb"))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["r0-f0"]  # hold-out
    train = EventAccumulator(str(tmp_path / "tb" / "r0-f0" / "train"))
    val = EventAccumulator(str(tmp_path / "tb" / "r0-f0" / "validation"))
    train.Reload()
    val.Reload()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy"} <= set(val.Tags()["scalars"])
    epochs = [e.step for e in val.Scalars("epoch_loss")]
    assert epochs == list(range(1, 9))  # 8 epochs, not 16: the second export replaced the first
    import tomllib

    rate = tomllib.loads((run / "preset.toml").read_text())["train"].get("learning_rate", 1e-3)
    assert {round(e.value, 9) for e in train.Scalars("epoch_learning_rate")} == {rate}
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    refused = dltui("export", str(run), "--format", "tensorboard", "--out", str(tmp_path / "mine"))
    assert refused.returncode == 2 and "not TensorBoard event files" in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def weights_of(run: Path) -> dict[str, np.ndarray]:
    return {f"{w.stem}.{k}": v.numpy() for w in sorted((run / "weights").glob("*.safetensors"))
            for k, v in load_weights(w).items()}


def kfold_of(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    return {k: summary[k] for k in ("kfold", "averaged_curve", "folds")}


def interrupted_then_resumed(tmp_path: Path, spec: dict, how: signal.Signals, after_lines: int) -> Path:
    runs = tmp_path / "cut"
    p = tmp_path / "p.toml"
    p.write_text(tomli_w.dumps(spec))
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "run", str(p), "--json",
                             "--runs-dir", str(runs)], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL, env={**os.environ, "CI": "true"})
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += '"event": "epoch"' in line
        if seen >= after_lines:
            proc.send_signal(how)
            break
    proc.wait(timeout=60)
    run = only_run(runs)
    status = json.loads((run / "summary.json").read_text())["status"] if (run / "summary.json").exists() \
        else "killed"
    assert status in ("stopped", "killed")
    time.sleep(0.1)
    result = dltui("resume", str(run))
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path, how):
    spec = preset(REGRESSION, train={"epochs": 30, "checkpoint_every": 1},
                  model={"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                                    {"type": "Dropout", "rate": 0.2},
                                    {"type": "Dense", "units": 1}]},
                  validation={"scheme": "kfold", "k": 3, "parallel_folds": False, "final_fit": True})
    run = interrupted_then_resumed(tmp_path, spec, how, after_lines=40)
    ref = tmp_path / "ref.toml"
    ref.write_text(tomli_w.dumps(spec))
    assert dltui("run", str(ref), "--runs-dir", str(tmp_path / "whole")).returncode == 0
    whole = only_run(tmp_path / "whole")
    assert kfold_of(run) == kfold_of(whole)
    a, b = weights_of(run), weights_of(whole)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not (run / "checkpoints").exists()
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    per_fold = [(e["fold"], e["epoch"]) for e in epochs if e["event"] == "epoch"]
    assert len(per_fold) == len(set(per_fold)) == 3 * 30 + kfold_of(whole)["averaged_curve"]["best_epoch"]


def test_stacked_folds_resume_too_with_their_schedules(tmp_path):
    """A reduce-on-plateau schedule per fold: its state is in the checkpoint, so the resumed
    run moves its rates exactly as the uninterrupted one."""
    spec = preset(REGRESSION, train={"epochs": 20, "checkpoint_every": 1, "lr_schedule": {
        "kind": "reduce_on_plateau", "patience": 2, "factor": 0.5, "min_delta": 1e6}},
                  validation={"scheme": "kfold", "k": 3})
    run = interrupted_then_resumed(tmp_path, spec, signal.SIGINT, after_lines=24)
    ref = tmp_path / "ref.toml"
    ref.write_text(tomli_w.dumps(spec))
    assert dltui("run", str(ref), "--runs-dir", str(tmp_path / "whole")).returncode == 0
    whole = only_run(tmp_path / "whole")
    assert kfold_of(run) == kfold_of(whole)

    def rates(folder: Path) -> dict:
        lines = [json.loads(ln) for ln in (folder / "metrics.jsonl").read_text().splitlines()]
        return {(e["fold"], e["epoch"]): e["lr"] for e in lines if e["event"] == "epoch"}

    assert rates(run) == rates(whole) and len(set(rates(whole).values())) > 1


def test_a_finished_run_is_not_resumed(csv_run):
    root, run = csv_run
    result = dltui("resume", str(run), cwd=root)
    assert result.returncode == 2 and "nothing to resume" in result.stderr


def test_a_checkpoint_from_another_version_is_refused_before_the_run_folder_is_touched(tmp_path):
    import json as _json

    import torch as _torch
    from safetensors.torch import save_file

    from dltui.engine.errors import InputError
    from dltui.engine.train.resume import CHECKPOINTS, checkpoint_epoch

    (tmp_path / CHECKPOINTS).mkdir()
    save_file({"x": _torch.zeros(1)}, str(tmp_path / CHECKPOINTS / "r0-f0.safetensors"),
              metadata={"dltui": _json.dumps({"version": 1, "epoch": 7})})
    with pytest.raises(InputError, match=r"checkpoint version 1, this one reads 2\); it cannot "
                                         r"be resumed: run the preset again"):
        checkpoint_epoch(tmp_path, "r0-f0")
    assert checkpoint_epoch(tmp_path, "r1-f0") == (0, "")  # none: nothing to refuse
