"""Using a run says only what happened: gaps at predict time follow the run's rule (in exports
too), every input row keeps its place in the output, unfinished fold models are never used
silently, labels of the wrong shape are refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import BINARY, REGRESSION, dltui, preset
from dltui.engine import EventBus, Experiment, load_run, prepare
from dltui.engine.errors import InputError
from dltui.engine.events import EpochEnded, StopToken
from dltui.engine.presets import validate_preset

# Clean training data: no gap anywhere, so nothing in training needed a fill.
CLEAN = "id,colour,size,weight,label\n" + "".join(
    f"{i},{['red', 'blue', 'green'][i % 3]},{(i * 7) % 13 / 3:.3f},{(i * 5) % 17 + 0.5:.2f},"
    f"{'yes' if (i * 7) % 13 > 5 else 'no'}\n" for i in range(120))
# New rows with real mess: gaps in two columns, an extra column, the target absent.
NEW = ("colour,size,weight,notes\n"
       "red,1.0,3.5,a\nblue,,4.5,b\ngreen,2.0,5.5,\nred,3.0,,c\nblue,0.5,1.5,d\n"
       "green,1.5,2.5,e\nred,2.5,6.5,f\n,1.0,3.0,g\nblue,4.0,7.5,h\ngreen,3.5,8.5,i\n"
       "red,,,j\nblue,2.2,4.4,k\n")
GAP_ROWS = {1, 3, 7, 10}  # numeric gaps, and row 7's missing colour (a text column)


def train_csv(root: Path, missing: str) -> Path:
    (root / "train.csv").write_text(CLEAN)
    (root / "new.csv").write_text(NEW)
    spec = preset(BINARY, data={"source": "csv:train.csv", "target": "label", "drop": ["id"],
                                "missing": missing}, train={"epochs": 2})
    (root / f"{missing}.toml").write_text(tomli_w.dumps(spec))
    done = dltui("run", f"{missing}.toml", "--runs-dir", f"runs-{missing}", cwd=root)
    assert done.returncode == 0, done.stderr
    (run,) = list((root / f"runs-{missing}").iterdir())
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gaps")
    return {"root": root, "mean": train_csv(root, "mean"), "drop": train_csv(root, "drop")}


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_the_mean_rule_fills_gaps_at_predict_time_though_training_had_none(runs):
    card = json.loads((runs["mean"] / "model.json").read_text())
    pre = card["models"]["r0-f0"]["preprocessing"]
    assert pre["fill"] is None and len(pre["means"]["values"]) == len(card["feature_names"])
    out = dltui("predict", str(runs["mean"]), "new.csv", cwd=runs["root"])
    assert out.returncode == 0, out.stderr
    rows = rows_of(out.stdout)
    assert len(rows) == 12 and "reason" not in rows[0]
    assert all(np.isfinite(float(r["p(yes)"])) for r in rows)
    assert out.stderr.count("ignored: notes") == 1
    scored = load_run(runs["mean"]).evaluate(np.array([[1.0, np.nan, 0, 0, 1], [2.0, 3.0, 1, 0, 0]],
                                                      dtype=np.float32), y=np.array([0, 1]))
    assert np.isfinite(scored["mean"]["loss"])


def test_an_exported_model_fills_a_gap_by_the_runs_rule(runs, tmp_path):
    import torch

    target = tmp_path / "m.pt2"
    done = dltui("export", str(runs["mean"]), "--out", str(target), cwd=runs["root"])
    assert done.returncode == 0, done.stderr
    assert "filled with the training mean" in done.stderr
    module = torch.export.load(str(target)).module()
    width = len(json.loads((runs["mean"] / "model.json").read_text())["feature_names"])
    x = torch.ones((2, width))
    x[0, 1] = float("nan")
    assert torch.isfinite(module(x)).all()


def test_predict_keeps_one_row_per_input_row_in_input_order(runs):
    out = dltui("predict", str(runs["drop"]), "new.csv", cwd=runs["root"])
    assert out.returncode == 0, out.stderr
    rows = rows_of(out.stdout)
    assert [int(r["row"]) for r in rows] == list(range(12))
    unpredicted = {int(r["row"]) for r in rows if r["predicted"] == ""}
    assert unpredicted == GAP_ROWS
    for r in rows:
        assert bool(r["reason"]) == (int(r["row"]) in GAP_ROWS)
    assert "missing value in 'size'" in rows[1]["reason"] and "data.missing = 'drop'" in rows[1]["reason"]
    assert "missing value in 'colour'" in rows[7]["reason"]
    filled = rows_of(dltui("predict", str(runs["drop"]), "new.csv", "--missing", "mean",
                           cwd=runs["root"]).stdout)
    assert len(filled) == 12 and all(r["predicted"] for r in filled)
    refused = dltui("predict", str(runs["drop"]), "new.csv", "--missing", "error", cwd=runs["root"])
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "row 1 has a missing value in 'size'" in refused.stderr
    bad = dltui("predict", str(runs["drop"]), "new.csv", "--missing", "guess", cwd=runs["root"])
    assert bad.returncode == 2 and "--missing guess: allowed" in bad.stderr


def test_predict_after_a_stop_mid_fold_leaves_the_unfinished_model_out(tmp_path):
    raw = preset(REGRESSION, train={"epochs": 6},
                 validation={"scheme": "kfold", "k": 3, "parallel_folds": False})
    bus, stop = EventBus(), StopToken()
    bus.subscribe(lambda e: stop.request() if isinstance(e, EpochEnded) and e.fold == 1
                  and e.epoch == 2 else None)
    experiment = Experiment(prepare(validate_preset(raw, "p.toml")), tmp_path, bus, stop)
    assert experiment.run()["status"] == "stopped"
    model = load_run(experiment.run_dir)
    assert list(model.unfinished) == ["r0-f1"]
    assert model.resolve(None) == ["r0-f0"]
    with pytest.raises(InputError, match="r0-f1: its training stopped after 2 of 6 epochs"):
        model.resolve("fold 1")
    x = np.zeros((3, 10), dtype=np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    out = dltui("predict", str(experiment.run_dir), str(tmp_path / "x.npz"))
    assert out.returncode == 0, out.stderr
    assert "left out, unfinished: r0-f1 (stopped after 2 of 6 epochs)" in out.stderr


def test_evaluate_refuses_labels_of_the_wrong_shape(tmp_path):
    raw = preset(REGRESSION, train={"epochs": 1}, validation={"scheme": "holdout"})
    experiment = Experiment(prepare(validate_preset(raw, "p.toml")), tmp_path)
    experiment.run()
    x = np.zeros((4, 10), dtype=np.float32)
    np.savez(tmp_path / "wide.npz", x=x, y=np.zeros((4, 3), dtype=np.float32))
    out = dltui("evaluate", str(experiment.run_dir), str(tmp_path / "wide.npz"))
    assert out.returncode == 2
    assert "targets of shape (3,) per sample, but the model predicts 1 value(s)" in out.stderr
    with pytest.raises(InputError, match="3 target value"):
        load_run(experiment.run_dir).evaluate(x, y=np.zeros(3, dtype=np.float32))
