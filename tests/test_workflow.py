"""The universal workflow: each step's decision rule on cases built to need it, the budget,
resume after a stop, and the saved preset equal to what the report says."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import BINARY, cli, preset
from dltui.engine.events import StopToken
from dltui.engine.sweeps import workflow_rules as rules
from dltui.engine.sweeps.workflow import Budget, Workflow


def fake_prep(y, task, metric, time_ordered=False, k=2):
    n = len(y)
    splits = [SimpleNamespace(train_idx=np.arange(0, n // 2), val_idx=np.arange(n // 2, n)),
              SimpleNamespace(train_idx=np.arange(n // 2, n), val_idx=np.arange(0, n // 2))][:k]
    return SimpleNamespace(data=SimpleNamespace(y=np.asarray(y), task=task,
                                                time_ordered=time_ordered),
                           plan=SimpleNamespace(splits=splits), primary_metric=metric)


def test_the_baselines_are_the_books_common_sense_ones():
    y = [0, 0, 0, 1, 0, 0, 1, 0]
    assert rules.baseline(fake_prep(y, "binary", "accuracy"))["score"] == pytest.approx(0.75)
    reg = rules.baseline(fake_prep([1.0, 3.0, 5.0, 7.0], "regression", "mae"))
    assert reg["score"] == pytest.approx(4.0) and reg["what"] == "the training mean"
    series = rules.baseline(fake_prep([1.0, 2.0, 3.0, 4.0], "regression", "mae", time_ordered=True,
                                      k=1))
    assert series["score"] == pytest.approx(1.0) and series["what"] == "tomorrow = today"


def test_beating_needs_more_than_noise_and_direction_follows_the_metric():
    acc = {"metric": "accuracy", "score": 0.8, "per_split": [0.8, 0.8, 0.8, 0.8]}
    assert rules.beats([0.85, 0.86, 0.84, 0.85], acc)
    assert not rules.beats([0.805, 0.806, 0.804, 0.805], acc)  # under 1 %
    assert not rules.beats([0.95, 0.70, 0.90, 0.72], acc)  # a mean gain the folds do not agree on
    assert not rules.beats([], acc) and not rules.beats([float("nan")] * 4, acc)
    mae = {"metric": "mae", "score": 10.0, "per_split": [10.0, 10.0]}
    assert rules.beats([9.0, 9.1], mae) and not rules.beats([11.0, 11.0], mae)


def test_overfitting_is_a_turn_well_before_the_last_epoch():
    assert rules.overfit_epoch({"val_loss_min_epoch": 6.2}, 40) == 6  # overfits early
    assert rules.overfit_epoch({"val_loss_min_epoch": 39.0}, 40) is None  # never does
    assert rules.overfit_epoch({"best_epoch": 30}, 40) == 30
    assert rules.overfit_epoch({"val_loss_min_epoch": 36}, 40) is None  # only flattening out
    assert rules.overfit_epoch({}, 40) is None


def test_the_remedies_are_the_books(tmp_path):
    raw = preset(BINARY)
    names = [v["name"] for v in rules.regularise_variants(raw, 7)]
    assert names == ["as it is", "fewer epochs (7)", "smaller (half the units)", "L2 0.001",
                     "dropout 0.5", "dropout 0.5 + L2 0.001"]
    dropped = rules.regularise_variants(raw, 7)[4]["model.layers"]
    assert [layer["type"] for layer in dropped].count("Dropout") == len(raw["model"]["layers"]) - 1
    wide = rules.scale_up_variants(raw, 1)[0]["model.layers"]
    assert wide[0]["units"] == raw["model"]["layers"][0]["units"] * 4
    assert wide[-1] == raw["model"]["layers"][-1]  # the output layer keeps its size


def noise_csv(path: Path, rows: int = 900) -> None:
    rng = np.random.default_rng(1)
    lines = ["a,b,c,label"] + [f"{rng.normal():.4f},{rng.normal():.4f},{rng.normal():.4f},"
                               f"{int(rng.integers(0, 2))}" for _ in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def test_a_target_no_model_can_predict_stops_after_the_first_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    noise_csv(tmp_path / "noise.csv")
    code, _said, err = cli("workflow", "noise.csv", "--target", "label", "--runs-dir", "runs")
    assert code == 0, err
    (folder,) = list((tmp_path / "runs").iterdir())
    state = json.loads((folder / "workflow.json").read_text())
    assert state["status"] == "baseline not beaten"
    assert [s["name"] for s in state["steps"]] == ["baseline", "first model"]
    assert "no model beat the baseline: check the data and target" in err
    assert not (folder / "chosen.toml").exists()


def say_and_stop_after(step: str, stop: StopToken, lines: list[str]):
    def say(line: str) -> None:
        lines.append(line)
        if line.startswith(f"[{step}]"):
            stop.request()
    return say


def test_a_stopped_workflow_keeps_its_steps_and_resume_finishes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = preset(BINARY, train={"epochs": 12}, validation={"scheme": "kfold", "k": 3})
    stop, lines = StopToken(), []
    first = Workflow(raw, None, tmp_path / "runs", "cpu", say_and_stop_after("first model", stop, lines),
                     stop, Budget(trainings=200)).run()
    assert first["status"] == "stopped"
    assert [s["name"] for s in first["steps"]] == ["baseline", "first model"]
    (folder,) = list((tmp_path / "runs").iterdir())
    code, out, err = cli("resume", str(folder))
    assert code == 0, err
    state = json.loads((folder / "workflow.json").read_text())
    assert [s["name"] for s in state["steps"]] == ["baseline", "first model", "scale up",
                                                  "regularise", "final fit"]
    assert state["status"] == "done" and state["test"]
    # the saved preset is the one the report chose
    chosen = next(s for s in state["steps"] if s["name"] == "regularise")["choice"]
    saved = tomllib.loads((folder / "chosen.toml").read_text())
    assert saved["model"]["layers"] == chosen["raw"]["model"]["layers"]
    assert saved["train"]["epochs"] == chosen["raw"]["train"]["epochs"]
    assert chosen["label"] in out and str(folder / "chosen.toml") in out.replace("\n", "")


def test_the_budget_is_respected_and_skipped_steps_say_why(tmp_path):
    raw = preset(BINARY, train={"epochs": 6}, validation={"scheme": "kfold", "k": 3})
    lines: list[str] = []
    state = Workflow(raw, None, tmp_path / "runs", "cpu", lines.append, StopToken(),
                     Budget(trainings=5)).run()
    steps = {s["name"]: s for s in state["steps"]}
    assert steps["scale up"]["status"] == "skipped" and "exceed the budget" in steps["scale up"]["why"]
    assert steps["regularise"]["status"] == "skipped"
    assert steps["final fit"]["status"] == "done"
    assert state["trainings"] == 3 + 3 + 1  # the first model and the final fit's K + 1
    assert Budget.parse("5m").seconds == 300 and Budget.parse("40").trainings == 40
    with pytest.raises(Exception, match="--budget"):
        Budget.parse("soon")


@pytest.fixture(scope="module")
def finished_workflow(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("wf") / "runs"
    raw = preset(BINARY, train={"epochs": 6}, validation={"scheme": "kfold", "k": 3})
    Workflow(raw, None, runs, "cpu", lambda _l: None, StopToken(), Budget(trainings=60)).run()
    (folder,) = list(runs.iterdir())
    return folder


async def test_the_app_lists_the_steps_and_opens_a_steps_sweep(finished_workflow):
    from textual.widgets import DataTable

    from dltui.tui.app import DltuiApp
    from dltui.tui.screens.sweep import SweepScreen
    from dltui.tui.screens.workflow import WorkflowScreen

    app = DltuiApp(runs_dir=finished_workflow.parent, workflow_dir=finished_workflow)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, WorkflowScreen)
        table = screen.query_one(DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert names == ["baseline", "first model", "scale up", "regularise", "final fit"]
        assert all(str(table.get_row_at(i)[1]) in ("done", "skipped") for i in range(5))
        await pilot.press("enter")  # the baseline trains nothing
        assert isinstance(app.screen, WorkflowScreen)
        await pilot.press("down", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SweepScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, WorkflowScreen)


def test_watch_prints_the_steps_and_a_killed_workflow_is_interrupted(finished_workflow, tmp_path):
    code, out, err = cli("watch", str(finished_workflow), "--plain")
    assert code == 0, err
    assert out.splitlines()[0].startswith("[baseline] done: the common-sense baseline")
    assert out.splitlines()[-1] == "workflow done"
    import shutil

    killed = tmp_path / "killed"
    shutil.copytree(finished_workflow, killed)
    state = json.loads((killed / "workflow.json").read_text())
    state.update(status="running", running="regularise", pid=2 ** 22 + 12345)
    state["steps"] = state["steps"][:3]
    (killed / "workflow.json").write_text(json.dumps(state))
    code, out, _ = cli("watch", str(killed), "--plain")
    assert code == 0 and out.splitlines()[-1].startswith("workflow interrupted: `dltui resume")


def test_a_killed_workflow_resumes_from_its_last_finished_step(tmp_path):
    """SIGKILL while a step trains: `dltui resume` keeps the finished steps and redoes the one
    the kill cut short."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import tomli_w

    raw = preset(BINARY, train={"epochs": 400}, validation={"scheme": "kfold", "k": 3})
    (tmp_path / "p.toml").write_text(tomli_w.dumps(raw))
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "workflow", "p.toml", "--budget",
                             "200", "--runs-dir", "runs"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"})
    deadline = time.monotonic() + 240
    while True:  # until the scale-up step trains
        files = list((tmp_path / "runs").glob("*/workflow.json"))
        state = json.loads(files[0].read_text()) if files else {}
        if state.get("running") == "scale up":
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    folder = files[0].parent
    code, out, _ = cli("watch", str(folder), "--plain")
    assert "workflow interrupted" in out
    state = json.loads((folder / "workflow.json").read_text())
    state["limits"] = {"seconds": None, "trainings": 40}  # the rest, quicker: fewer epochs
    state["current"]["train"]["epochs"] = 6
    state["preset"]["train"]["epochs"] = 6
    (folder / "workflow.json").write_text(json.dumps(state))
    code, out, err = cli("resume", str(folder))
    assert code == 0, err
    done = json.loads((folder / "workflow.json").read_text())
    assert [s["name"] for s in done["steps"]][:2] == ["baseline", "first model"]
    assert done["steps"][1] == state["steps"][1]  # the finished step kept as it was
    assert done["status"] == "done" and "final fit" in [s["name"] for s in done["steps"]]
