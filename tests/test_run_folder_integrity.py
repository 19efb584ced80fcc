"""A run folder cannot lie: a damaged or edited file is one line naming it (exit 2) for every
command, weights are checked against the SHA-256 model.json recorded, a sweep folder given where
a run is expected says so and offers its variants, a killed sweep is failed, not running."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import REGRESSION, dltui, preset
from conftest import cli as run_cli

IRIS = {"name": "iris3", "data": {"source": "builtin:iris"},
        "model": {"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                             {"type": "Dense", "units": 3, "activation": "softmax"}]},
        "train": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], "epochs": 2},
        "validation": {"scheme": "kfold", "k": 3}}
FILES = ["model.json", "preset.toml", "summary.json", "metrics.jsonl", "weights/r0-f0.safetensors",
         "predictions/val-r0-f0.npz"]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    (root / "p.toml").write_text(tomli_w.dumps(IRIS))
    done = dltui("run", "p.toml", "--runs-dir", "runs", cwd=root)
    assert done.returncode == 0, done.stderr
    from sklearn.datasets import load_iris

    iris = load_iris()
    np.savez(root / "x.npz", x=iris.data[:10].astype("float32"),
             y=np.array([iris.target_names[i] for i in iris.target[:10]]))
    (run,) = list((root / "runs").iterdir())
    return run


def cli(*argv: str) -> tuple[int, str]:
    """The real entry point, in this process (a subprocess per case would take minutes)."""
    code, _, err = run_cli(*argv)
    return code, err.strip()


def damaged(data: bytes) -> dict[str, bytes]:
    flipped = bytearray(data)
    for i in range(0, len(flipped), max(1, len(flipped) // 7)):
        flipped[i] ^= 0x5A
    return {"truncated": data[:len(data) // 2], "flipped": bytes(flipped), "empty": b"",
            "json of the wrong shape": b'{"models": [1], "task": 7, "input_shape": "x"}\n',
            "a pickle": pickle.dumps({"weights": [1, 2]})}


def commands(run: Path, root: Path) -> list[list[str]]:
    return [["predict", str(run), str(root / "x.npz")], ["evaluate", str(run), str(root / "x.npz")],
            ["export", str(run), "--model", "fold 0", "--out", str(root / "m.pt2"), "--force"],
            ["report", str(run)], ["resume", str(run)], ["watch", str(run), "--plain"],
            ["runs", "--runs-dir", str(run.parent)]]


@pytest.mark.parametrize("name", FILES)
def test_every_command_answers_a_damaged_file_in_one_line(iris_run, tmp_path, monkeypatch, name):
    monkeypatch.setenv("CI", "true")
    for how, blob in damaged((iris_run / name).read_bytes()).items():
        run = tmp_path / how.replace(" ", "-") / iris_run.name
        shutil.copytree(iris_run, run)
        (run / name).write_bytes(blob)
        for argv in commands(run, iris_run.parent.parent):
            code, text = cli(*argv)
            assert "Traceback" not in text, (name, how, argv[0], text)
            assert code == 0 or (code == 2 and "\n" not in text and text.startswith("dltui: error:")), \
                (name, how, argv[0], code, text)
            if code == 2 and name != "preset.toml" and argv[0] != "resume":
                assert name.split("/")[-1] in text or "x.npz" in text, (name, how, argv[0], text)
        if name.startswith("weights/") or name == "model.json":
            code, text = cli("predict", str(run), str(iris_run.parent.parent / "x.npz"))
            assert code == 2, (name, how)


def edit_card(run: Path, change) -> None:
    card = json.loads((run / "model.json").read_text())
    change(card)
    (run / "model.json").write_text(json.dumps(card))


TAMPERED = {
    "weights replaced by other tensors": lambda run: __import__("safetensors.torch").torch.save_file(
        {"x": __import__("torch").zeros(2)}, str(run / "weights" / "r0-f0.safetensors")),
    "version a string": lambda run: edit_card(run, lambda c: c.update(version="1")),
    "input_shape not numbers": lambda run: edit_card(run, lambda c: c.update(input_shape=["a"])),
    "task missing": lambda run: edit_card(run, lambda c: c.pop("task")),
    "a mean of the wrong length": lambda run: edit_card(run, lambda c: c["models"]["r0-f0"][
        "preprocessing"]["mean"].update(shape=[1, 1], values=[0.0])),
    "a cut class list": lambda run: edit_card(run, lambda c: c.update(classes=c["classes"][:2])),
    "100k-deep nesting": lambda run: (run / "model.json").write_text("[" * 100_000 + "]" * 100_000),
    "a model named outside the folder": lambda run: edit_card(
        run, lambda c: c["models"].update({"../../outside": c["models"].pop("r0-f0")})),
    "preset edited so shapes no longer match": lambda run: (run / "preset.toml").write_text(
        (run / "preset.toml").read_text().replace("units = 8", "units = 9")),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_run_folder_is_refused_before_anything_is_loaded(iris_run, tmp_path, case):
    run = tmp_path / iris_run.name
    shutil.copytree(iris_run, run)
    TAMPERED[case](run)
    for argv in (["predict", str(run), str(iris_run.parent.parent / "x.npz")],
                 ["export", str(run), "--model", "fold 0", "--out", str(tmp_path / "m.pt2")]):
        code, text = cli(*argv)
        assert code == 2 and "\n" not in text and text.startswith("dltui: error:"), (case, text)
        assert str(run) in text


def test_model_json_records_each_weight_files_sha256(iris_run):
    import hashlib

    card = json.loads((iris_run / "model.json").read_text())
    for name, info in card["models"].items():
        blob = (iris_run / "weights" / f"{name}.safetensors").read_bytes()
        assert info["sha256"] == hashlib.sha256(blob).hexdigest()
    assert card["classes"] == ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    raw = preset(REGRESSION, train={"epochs": 2}, validation={"scheme": "holdout"},
                 sweep={"model.layers[0].units": [4, 8]})
    (root / "s.toml").write_text(tomli_w.dumps(raw))
    done = dltui("sweep", "s.toml", "--runs-dir", "runs", cwd=root)
    assert done.returncode == 0, done.stderr
    (path,) = list((root / "runs").iterdir())
    np.savez(root / "x.npz", x=np.zeros((3, 10), dtype="float32"))
    return path


def test_a_sweep_where_a_run_is_expected_names_its_best_variant(sweep_dir):
    root = sweep_dir.parent.parent
    report = dltui("report", "latest", "--runs-dir", "runs", cwd=root)
    assert report.returncode == 2
    assert "this is a sweep, not a run; its best variant is v0" in report.stderr
    assert "older dltui" not in report.stderr and "--variant best" in report.stderr
    best = json.loads((sweep_dir / "sweep.json").read_text())["ranking"][0]
    predicted = dltui("predict", str(sweep_dir), "x.npz", "--variant", "best", cwd=root)
    assert predicted.returncode == 0, predicted.stderr
    by_label = dltui("report", str(sweep_dir), "--variant", best["label"], "--json", cwd=root)
    assert by_label.returncode == 0, by_label.stderr
    unknown = dltui("export", str(sweep_dir), "--variant", "v09", cwd=root)
    assert unknown.returncode == 2 and "no such variant" in unknown.stderr
    assert "(have: v01 (layers[0].units=4), v02 (layers[0].units=8))" in unknown.stderr
    missing = dltui("predict", "runs/nowhere", "x.npz", cwd=root)
    assert missing.returncode == 2 and "no such run folder" in missing.stderr


def test_a_killed_sweep_is_failed_in_runs_and_watch_not_running_forever(tmp_path):
    from dltui.engine.runs.listing import list_runs

    raw = preset(REGRESSION, train={"epochs": 400}, validation={"scheme": "kfold", "k": 3},
                 sweep={"model.layers[0].units": [4, 8, 16]})
    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "sweep", "s.toml", "--runs-dir",
                             "runs"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CI": "true"})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            logs = list((tmp_path / "runs").glob("*/sweep.jsonl"))
            if logs and "variant_started" in logs[0].read_text():
                break
            time.sleep(0.2)
        assert [r.status for r in list_runs(tmp_path / "runs")] == ["running"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (info,) = list_runs(tmp_path / "runs")
    assert info.status == "failed" and info.scheme == "sweep"
    shown = dltui("runs", "--runs-dir", "runs", cwd=tmp_path)
    assert "failed" in shown.stdout and "running" not in shown.stdout
    watched = dltui("watch", str(info.path), "--plain", cwd=tmp_path, timeout=30)
    assert watched.returncode == 1
    assert "sweep failed: its process is gone" in watched.stderr


async def test_the_sweep_screen_shows_a_killed_sweep_as_failed(tmp_path):
    from dltui.engine.events import SweepStarted, VariantStarted
    from dltui.engine.runs.folder import dumps
    from dltui.tui.app import DltuiApp
    from dltui.tui.screens.sweep import SweepScreen

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs: the sweep's writer was killed
    folder = tmp_path / "runs" / "20261201-120000-sweep-x"
    folder.mkdir(parents=True)
    lines = [SweepStarted(str(folder), "x", 2, 2, 5, ["train.seed"], "grid", False, "loss", gone.pid),
             VariantStarted(1, "seed=0", {"train.seed": 0}, str(folder / "v1"))]
    (folder / "sweep.jsonl").write_text("".join(dumps(e.to_dict()) + "\n" for e in lines))
    app = DltuiApp(runs_dir=tmp_path / "runs", sweep_dir=folder)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            if isinstance(app.screen, SweepScreen) and app.screen.dead:
                break
            await pilot.pause(0.1)
        screen = app.screen
        assert isinstance(screen, SweepScreen) and "its process is gone" in screen.dead
        assert {r["status"] for r in screen.rows.values()} == {"failed"}
