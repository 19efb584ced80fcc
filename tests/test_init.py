"""`dltui init`: a first preset from the data alone, each choice by the book's rule, approved by
the doctor, and one that trains."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from conftest import cli
from dltui.engine import load_preset
from dltui.engine.data.dataset import load_data
from dltui.engine.doctor.examine import examine


@pytest.mark.parametrize("name,task,last,loss,metric", [
    ("breast_cancer", "binary", ("sigmoid", 1), "binary_crossentropy", "accuracy"),
    ("wine", "multiclass", ("softmax", 3), "sparse_categorical_crossentropy", "accuracy"),
    ("diabetes", "regression", ("linear", 1), "mse", "mae"),
])
def test_init_pairs_the_task_last_layer_loss_and_metric(tmp_path, monkeypatch, name, task, last,
                                                        loss, metric):
    monkeypatch.chdir(tmp_path)
    code, said, err = cli("init", f"builtin:{name}")
    assert code == 0, err
    assert f"data.task = {task}" in said and "the doctor found nothing to fix" in said
    preset, path = load_preset(tmp_path / f"{name}.toml")
    head = preset.model.layers[-1]
    assert (head.activation, head.units) == last
    assert preset.train.loss == loss and preset.train.metrics == [metric]
    assert preset.validation.scheme == "kfold" and preset.validation.final_fit  # small data
    data = load_data(preset.data, path.parent)
    assert not [f for f in examine(preset, data) if f.severity != "hint"]
    code, _, err = cli("run", str(path), "--set", "train.epochs=2", "--runs-dir", "runs")
    assert code == 0, err


def messy_csv(path, rows: int) -> None:
    rng = np.random.default_rng(0)
    lines = ["id,size,colour,when,price"]
    for i in range(rows):
        size = "" if i % 17 == 3 else f"{rng.uniform(1, 9):.3f}"
        colour = ["red", "blue", "green"][i % 3]
        lines.append(f"{i},{size},{colour},{i},{rng.normal(100, 10):.2f}")
    path.write_text("\n".join(lines) + "\n")


def test_a_messy_csv_gets_gaps_filled_text_encoded_and_kfold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messy_csv(tmp_path / "houses.csv", 300)
    code, said, err = cli("init", "houses.csv", "--target", "price")
    assert code == 0, err
    raw = tomllib.loads((tmp_path / "houses.toml").read_text())
    assert raw["data"] == {"source": "csv:houses.csv", "target": "price", "missing": "mean"}
    assert raw["train"]["loss"] == "mse" and raw["validation"]["scheme"] == "kfold"
    assert "mean over the training rows only" in " ".join(said.split())
    assert (tmp_path / "houses.toml").read_text().startswith("# Written by `dltui init`")


def test_large_data_gets_hold_out_and_time_ordered_data_forward_chaining(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messy_csv(tmp_path / "big.csv", 2000)
    assert cli("init", "big.csv", "--target", "price")[0] == 0
    assert tomllib.loads((tmp_path / "big.toml").read_text())["validation"]["scheme"] == "holdout"
    code, said, err = cli("init", "big.csv", "--target", "price", "--time-ordered", "--out",
                          "timed.toml")
    assert code == 0, err
    raw = tomllib.loads((tmp_path / "timed.toml").read_text())
    assert raw["data"]["time_ordered"] is True and raw["validation"]["scheme"] == "kfold"
    assert "arrow of time" in " ".join(said.split())
    preset, _ = load_preset(tmp_path / "timed.toml")
    from dltui.engine import prepare

    assert prepare(preset, tmp_path).plan.forward_chaining


def test_init_refuses_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messy_csv(tmp_path / "h.csv", 100)
    code, _, err = cli("init", "h.csv")
    assert code == 2 and "--target" in err and err.strip().count("\n") == 0
    assert cli("init", "h.csv", "--target", "price")[0] == 0
    code, _, err = cli("init", "h.csv", "--target", "price")
    assert code == 2 and "exists; --force replaces it" in err
    code, _, err = cli("init", "h.txt", "--target", "price")
    assert code == 2 and "a data file ends in" in err
    code, _, err = cli("init", "h.csv", "--target", "nope", "--force")
    assert code == 2 and "nope" in err
