"""Sweeps: variants planned and validated before training, each trained with its validation scheme
into its own run folder, ranked; L1/L2 regularisation; pruning; the same results from worker
processes and from Ray as from this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w
import torch

from conftest import BINARY, REGRESSION, cli, dltui, preset
from dltui.engine import Experiment, prepare
from dltui.engine.errors import InputError
from dltui.engine.events import EventBus, StopToken
from dltui.engine.spec import Preset
from dltui.engine.sweeps.plan import parse_vary, plan_sweep, rank
from dltui.engine.sweeps.runner import SweepRunner

SMALL = preset(REGRESSION, train={"epochs": 6}, validation={"scheme": "kfold", "k": 3})


def test_a_grid_is_every_combination_and_each_variant_is_validated():
    raw = preset(SMALL, sweep={"model.layers[0].units": [4, 16], "train.learning_rate": [1e-3, 1e-2]})
    plan = plan_sweep(raw, "p.toml")
    assert len(plan.variants) == 4
    assert [v.preset.model.layers[0].units for v in plan.variants] == [4, 4, 16, 16]
    assert plan.variants[1].label == "layers[0].units=4, learning_rate=0.01"
    assert all(not v.preset.sweep for v in plan.variants)  # a variant is a plain preset
    with pytest.raises(InputError, match=r"sweep variant 2 \(model.layers\[0\].units=-1\): "
                                         r"model.layers\[0\].units: Input should be greater"):
        plan_sweep(preset(SMALL, sweep={"model.layers[0].units": [4, -1]}), "p.toml")
    with pytest.raises(InputError, match=r"sweep variant 1 .*train.epoch: unknown key"):
        plan_sweep(SMALL, "p.toml", {"train.epoch": [3]})


def test_random_mode_samples_without_repeats_and_cli_values_parse_as_toml():
    vary = parse_vary(["train.learning_rate=1e-3,1e-2,0.1", "train.optimizer=adam,rmsprop"])
    assert vary == {"train.learning_rate": [1e-3, 1e-2, 0.1], "train.optimizer": ["adam", "rmsprop"]}
    plan = plan_sweep(SMALL, "p.toml", vary, mode="random", samples=4)
    labels = [v.label for v in plan.variants]
    assert len(labels) == 4 == len(set(labels))
    with pytest.raises(InputError, match="random mode needs samples"):
        plan_sweep(SMALL, "p.toml", vary, mode="random")


def test_ranking_puts_lower_losses_and_higher_accuracies_first():
    rows = [{"mean": 0.5}, {"mean": None}, {"mean": 0.2}]
    assert [r["mean"] for r in rank(rows, "mae")] == [0.2, 0.5, None]
    assert [r["mean"] for r in rank(rows, "accuracy")] == [0.5, 0.2, None]


def test_l2_changes_training_and_stacked_folds_equal_sequential_with_it(tmp_path):
    def run(l2: float, parallel: bool) -> dict:
        layers = [{"type": "Dense", "units": 8, "activation": "relu", "l2": l2},
                  {"type": "Dense", "units": 1}]
        raw = preset(SMALL, model={"layers": layers}, validation={"parallel_folds": parallel})
        return Experiment(prepare(Preset.model_validate(raw)), tmp_path).run()["kfold"]["mean"]["best"]
    stacked, sequential, plain = run(0.05, True), run(0.05, False), run(0.0, False)
    assert stacked["mae"] == pytest.approx(sequential["mae"], rel=1e-5)
    assert plain["mae"] != pytest.approx(sequential["mae"], rel=1e-5)


def run_sweep(raw: dict, tmp_path: Path, **kw) -> tuple[dict, list]:
    events: list = []
    plan = plan_sweep(raw, "p.toml", **kw)
    result = SweepRunner(plan, tmp_path, None, "cpu", events.append, StopToken()).run()
    return result, events


def test_a_sweep_trains_each_variant_into_its_own_run_folder_and_ranks_them(tmp_path):
    raw = preset(SMALL, sweep={"model.layers[0].units": [2, 32]})
    result, events = run_sweep(raw, tmp_path)
    assert [e.kind for e in events][-1] == "sweep_ended"
    sweep_dir = Path(result["dir"])
    table = json.loads((sweep_dir / "sweep.json").read_text())
    assert table["version"] == 1 and len(table["ranking"]) == 2
    for row in table["ranking"]:
        summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
        assert summary["kfold"]["folds"] == 3 and row["mean"] == summary["kfold"]["mean"]["best"]["mae"]
        assert Path(row["run_dir"]).parent == sweep_dir
    kinds = [json.loads(line)["event"] for line in (sweep_dir / "sweep.jsonl").read_text().splitlines()]
    assert kinds == ["sweep_started", "variant_started", "variant_ended", "variant_started",
                     "variant_ended", "sweep_ended"]
    assert table["ranking"][0]["mean"] <= table["ranking"][1]["mean"]


def test_pruning_stops_variants_worse_than_the_median_at_a_rung(tmp_path):
    raw = preset(SMALL, train={"epochs": 16},
                 sweep={"train.learning_rate": [1e-2, 1e-2, 1e-6, 1e-6], "prune": True})
    result, _events = run_sweep(raw, tmp_path)
    by_index = {r["index"]: r for r in result["ranking"]}
    assert by_index[1]["status"] == "done" and by_index[2]["status"] == "done"
    assert {by_index[3]["status"], by_index[4]["status"]} == {"pruned"}
    assert "pruned at epoch 2" in by_index[3]["message"]
    unpruned, _events = run_sweep(preset(raw, sweep={"prune": False}), tmp_path)
    assert all(r["status"] == "done" for r in unpruned["ranking"])


def test_sweep_command_prints_the_table_and_the_shipped_preset_shows_the_book(tmp_path):
    result = dltui("sweep", "sweep-overfitting", "--set", "train.epochs=20", "--runs-dir",
                   str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "5 variant(s) of sweep-overfitting" in result.stderr
    assert "bigger 512-512" in result.stdout and "best" in result.stdout
    (sweep_dir,) = list(tmp_path.iterdir())
    rows = {r["label"]: r for r in json.loads((sweep_dir / "sweep.json").read_text())["ranking"]}
    turns = {label: r["val_loss_min_epoch"] for label, r in rows.items()}
    # The book's figure: the bigger network's validation loss turns up earliest.
    assert min(turns, key=turns.get) == "bigger 512-512"
    assert turns["bigger 512-512"] < turns["original 16-16"] < turns["smaller 4-4"]


def test_bad_sweeps_are_one_line_before_anything_trains(tmp_path, write_preset):
    p = write_preset(preset(SMALL, sweep={"model.layers[0].units": [4, 0]}))
    result = dltui("sweep", str(p), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "sweep variant 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
    bad_data = write_preset(preset(SMALL, sweep={"data.source": ["builtin:diabetes", "csv:nope.csv"]}))
    result = dltui("sweep", str(bad_data), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "sweep variant 2" in result.stderr and "nope.csv" in result.stderr
    assert not (tmp_path / "runs").exists()


def rankings(sweep_dir: Path) -> dict[int, float]:
    return {r["index"]: r["mean"] for r in json.loads((sweep_dir / "sweep.json").read_text())["ranking"]}


def test_worker_processes_give_the_local_results(tmp_path):
    # two architectures x two learning rates: two groups of two stacked variants, one task each
    raw = preset(SMALL, sweep={"model.layers[0].units": [4, 8], "train.learning_rate": [1e-3, 1e-2]})
    (tmp_path / "p.toml").write_text(tomli_w.dumps(raw))
    local = dltui("sweep", str(tmp_path / "p.toml"), "--runs-dir", str(tmp_path / "local"),
                  env={"OMP_NUM_THREADS": "1"})
    remote = dltui("sweep", str(tmp_path / "p.toml"), "--devices", "cpu,cpu", "--runs-dir",
                   str(tmp_path / "remote"), env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    (a,), (b,) = list((tmp_path / "local").iterdir()), list((tmp_path / "remote").iterdir())
    assert rankings(a) == pytest.approx(rankings(b), rel=1e-6)
    for row in json.loads((b / "sweep.json").read_text())["ranking"]:  # whole run folders
        run = Path(row["run_dir"])
        assert len(json.loads((run / "summary.json").read_text())["stacked_with"]) == 1
        assert (run / "model.json").exists() and (run / "weights").is_dir()
        lines = (run / "metrics.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["run_dir"] == str(run) and "run_ended" in lines[-1]


def test_a_worker_killed_mid_group_fails_only_its_variant_and_the_pool_goes_on(tmp_path):
    """--devices cpu,cpu: variant 2's worker dies (os._exit) inside the stacked group [1, 2];
    the group is retried one variant at a time, so only variant 2 fails, and the dead worker's
    pool is rebuilt for what was queued behind it."""
    raw = preset(SMALL, train={"epochs": 2},
                 sweep={"model.layers[0].units": [4, 8], "train.learning_rate": [1e-3, 1e-2]})
    (tmp_path / "p.toml").write_text(tomli_w.dumps(raw))
    remote = dltui("sweep", str(tmp_path / "p.toml"), "--devices", "cpu,cpu", "--runs-dir",
                   str(tmp_path / "remote"), env={"OMP_NUM_THREADS": "1",
                                                  "DLTUI_SWEEP_KILL_VARIANT": "2"}, timeout=300)
    assert remote.returncode == 0, remote.stderr[-2000:]
    (folder,) = list((tmp_path / "remote").iterdir())
    status = {r["index"]: r["status"] for r in json.loads((folder / "sweep.json").read_text())["ranking"]}
    assert status == {1: "done", 2: "failed", 3: "done", 4: "done"}
    failed = next(r for r in json.loads((folder / "sweep.json").read_text())["ranking"] if r["index"] == 2)
    assert "worker process died" in failed["message"]


def test_l2_and_sweep_keys_round_trip_through_the_preset_format(tmp_path, write_preset):
    raw = preset(BINARY, model={"layers": [{"type": "Dense", "units": 8, "activation": "relu", "l1": 0.001},
                                           {"type": "Dense", "units": 1, "activation": "sigmoid"}]})
    spec = Preset.model_validate(raw)
    assert spec.model.layers[0].l1 == 0.001 and "l1=0.001" in spec.model.layers[0].describe()
    bus = EventBus()
    assert bus is not None


async def test_the_app_shows_a_sweep_table_and_overlays_its_curves(tmp_path):
    from textual.widgets import DataTable

    from dltui.tui.app import DltuiApp
    from dltui.tui.screens.runs import RunsScreen
    from dltui.tui.screens.sweep import SweepScreen
    from dltui.tui.screens.train import TrainScreen

    result, _events = run_sweep(preset(SMALL, sweep={"model.layers[0].units": [2, 32]}), tmp_path)
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RunsScreen) and app.screen.runs[0].scheme == "sweep"
        await pilot.press("enter")
        await pilot.pause(0.5)
        sweep = app.screen
        assert isinstance(sweep, SweepScreen) and sweep.over
        table = sweep.query_one(DataTable)
        assert table.row_count == 2
        best = result["best"]["index"]
        assert table.get_row_at(0)[1] == f"v{best:02d}" and "(best)" in table.get_row_at(0)[5]
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "validation loss, mean over folds" in shown and f"v{best:02d}" in shown
        await pilot.press("space")
        await pilot.pause(0.2)
        assert sweep.hidden == {best}
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, TrainScreen)


async def test_the_builder_starts_a_sweep_from_a_setting_given_several_values(tmp_path):
    from textual.widgets import Input, Static

    from dltui.tui.app import DltuiApp
    from dltui.tui.screens.sweep import SweepScreen

    p = tmp_path / "p.toml"
    p.write_text(tomli_w.dumps(SMALL))
    app = DltuiApp(preset=str(p), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        for _ in range(100):
            if build.data is not None:
                break
            await pilot.pause(0.1)
        build.query_one("#train-learning_rate", Input).value = "0.001, 0.01"
        for _ in range(100):  # the change is a message: under load it lands later
            if "sweep of 2" in str(build.query_one("#status", Static).render()):
                break
            await pilot.pause(0.1)
        assert build.raw["sweep"] == {"train.learning_rate": [0.001, 0.01]}
        assert build.raw["train"]["learning_rate"] == 0.001
        assert "sweep of 2 variants" in str(build.query_one("#status", Static).render())
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        sweep = app.screen
        assert isinstance(sweep, SweepScreen)
        for _ in range(300):
            if sweep.over:
                break
            await pilot.pause(0.1)
        assert sweep.over and len(sweep.rows) == 2
        assert {r["status"] for r in sweep.rows.values()} == {"done"}


@pytest.mark.parametrize("schedule", [None, {"kind": "exponential", "gamma": 0.7}])
def test_variants_differing_in_rates_and_l2_train_as_one_stacked_model_equal_to_alone(tmp_path,
                                                                                      schedule):
    """With a schedule each member's rate moves from its own base rate (per-element rates)."""
    from dltui.engine.stacking.variants import joint_groups

    vary = {"train.learning_rate": [1e-3, 1e-2], "model.layers[0].l2": [0.0, 0.05]}
    raw = preset(SMALL, train={"epochs": 8, **({"lr_schedule": schedule} if schedule else {})},
                 sweep=vary)
    plan = plan_sweep(raw, "p.toml")
    runner = SweepRunner(plan, tmp_path, None, "cpu", lambda _e: None, StopToken())
    preps = runner.prepare_all()
    assert joint_groups(preps, prune=False) == [[0, 1, 2, 3]]
    result = runner.run(preps)
    for variant in plan.variants:
        summary = json.loads((Path(next(r["run_dir"] for r in result["ranking"]
                                        if r["index"] == variant.index)) / "summary.json").read_text())
        assert len(summary["stacked_with"]) == 3
        sequential = variant.preset.validation.model_copy(update={"parallel_folds": False})
        alone_preset = variant.preset.model_copy(update={"validation": sequential})
        alone = Experiment(prepare(alone_preset), tmp_path / "alone").run()
        for mine, theirs in zip(summary["folds"], alone["folds"], strict=True):
            assert mine["best_epoch"] == theirs["best_epoch"]
            assert mine["best"]["mae"] == pytest.approx(theirs["best"]["mae"], rel=1e-5)
            assert mine["last"]["loss"] == pytest.approx(theirs["last"]["loss"], rel=1e-5)


def test_a_diverging_variant_fails_alone_in_a_stacked_group(tmp_path):
    raw = preset(SMALL, train={"epochs": 6, "optimizer": "sgd"},
                 sweep={"train.learning_rate": [1e-3, 5.0]})
    result, _events = run_sweep(raw, tmp_path)
    status = {r["index"]: r["status"] for r in result["ranking"]}
    assert status == {1: "done", 2: "diverged"}


def test_the_flat_optimizer_matches_torch_optim():
    """dltui's own optimizer under `update_rule = "torch"`, with scalar settings (one model) and
    per-element settings (stacked variants), against torch.optim with Keras' rho and epsilon."""
    from dltui.engine.train.optimizers import FlatOptimizer

    torch_make = {
        "rmsprop": lambda p, lr, m, wd: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-7,
                                                            momentum=m, weight_decay=wd),
        "sgd": lambda p, lr, m, wd: torch.optim.SGD(p, lr=lr, momentum=m, weight_decay=wd),
        "adam": lambda p, lr, m, wd: torch.optim.Adam(p, lr=lr, eps=1e-7, weight_decay=wd),
        "adamw": lambda p, lr, m, wd: torch.optim.AdamW(p, lr=lr, eps=1e-7, weight_decay=wd),
    }
    for kind, momentum, wd in (("rmsprop", 0.0, 0.0), ("rmsprop", 0.9, 0.01), ("adam", 0.0, 0.01),
                               ("adam", 0.0, 0.0), ("adamw", 0.0, 0.01), ("sgd", 0.9, 0.01),
                               ("sgd", 0.0, 0.0)):
        for per_element in (False, True):
            # Zeros and tiny gradients too, on parameters small enough to show a rounding
            # change: the optimizer floors its running averages before the square root
            # (faster), which must not change a bit.
            scale = torch.tensor([0.0, 1e-20, 3e-17, 1e-16, 1e-15, 1e-12, 1e-4, 1.0, 1.0, 1.0] * 5)
            torch_p = torch.nn.Parameter(torch.linspace(-1, 1, 50) * torch.where(scale > 0, scale, 1))
            flat_p = torch.nn.Parameter(torch_p.detach().clone())
            ref = torch_make[kind]([torch_p], 0.01, momentum, wd)
            lr, decay = ((torch.full((50,), 0.01), torch.full((50,), wd)) if per_element
                         else (0.01, wd))
            ours = FlatOptimizer(flat_p, kind, lr, decay, momentum, rule="torch")
            for step in range(5):
                grad = torch.sin(torch.arange(50.0) * (step + 1)) * scale
                torch_p.grad, flat_p.grad = grad.clone(), grad.clone()
                ref.step()
                ours.step()
            if kind.startswith("adam") and per_element:  # a per-element step: at most 1 ulp
                assert torch.allclose(torch_p, flat_p, rtol=0, atol=6e-8), kind
            else:
                assert torch.equal(torch_p, flat_p), (kind, per_element)


def test_a_model_steps_as_one_flat_buffer_and_trains_as_torch_optim_would():
    """The single-model path: parameters re-homed into one buffer, gradients filled in place,
    the same weights as torch.optim after a few batches."""
    from dltui.engine.spec import TrainSpec
    from dltui.engine.train.optimizers import make_optimizer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    twin.load_state_dict(net.state_dict())
    ours = make_optimizer(net, TrainSpec(loss="mse", learning_rate=0.01, update_rule="torch"))
    ref = torch.optim.RMSprop(twin.parameters(), lr=0.01, alpha=0.9, eps=1e-7)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(4):
        ours.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        ours.step()
        ref.zero_grad()
        ((twin(x) - y) ** 2).mean().backward()
        ref.step()
    for a, b in zip(net.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b)


async def test_a_layer_field_with_several_values_is_varied_and_follows_its_layer(tmp_path):
    from dltui.tui.app import DltuiApp

    raw = preset(SMALL, model={"layers": [{"type": "Dense", "units": 1}]})
    p = tmp_path / "p.toml"
    p.write_text(tomli_w.dumps(raw))
    app = DltuiApp(preset=str(p), runs_dir=tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        for _ in range(100):
            if build.data is not None:
                break
            await pilot.pause(0.1)
        await pilot.press("i")  # insert above the selection (the output layer)
        for key in "Dense 4,32 relu":
            await pilot.press({" ": "space", ",": "comma"}.get(key, key))
        await pilot.press("enter", "escape")
        await pilot.pause(0.2)
        assert build.raw["sweep"] == {"model.layers[0].units": [4, 32]}
        assert build.model_layers[0].units == 4
        build.query_one("LayerStack").move_cursor(row=1)
        await pilot.press("i")
        for key in "Dense 8 relu":
            await pilot.press({" ": "space"}.get(key, key))
        await pilot.press("enter", "escape")
        await pilot.pause(0.2)
        assert build.raw["sweep"] == {"model.layers[1].units": [4, 32]}
        plan = plan_sweep(build.preset_dict(), "app")
        assert [v.preset.model.layers[1].units for v in plan.variants] == [4, 32]


def test_the_penalty_is_reported_beside_the_data_loss(tmp_path):
    layers = [{"type": "Dense", "units": 8, "activation": "relu", "l2": 0.01}, {"type": "Dense", "units": 1}]
    for parallel in (True, False):
        raw = preset(SMALL, model={"layers": layers}, validation={"parallel_folds": parallel})
        summary = Experiment(prepare(Preset.model_validate(raw)), tmp_path).run()
        assert all(r["best"]["loss"] > 0 for r in summary["folds"])
    from dltui.engine.runs.folder import read_events

    runs = sorted(tmp_path.iterdir())
    epochs = [e for e in read_events(runs[-1]) if e.kind == "epoch"]
    assert all(e.train["penalty"] > 0 for e in epochs) and "penalty" not in epochs[0].val


def test_seeds_and_dropout_rates_stack_too_and_each_member_keeps_its_own(tmp_path):
    from dltui.engine.stacking.variants import joint_groups

    layers = [{"type": "Dense", "units": 8, "activation": "relu"}, {"type": "Dropout", "rate": 0.1},
              {"type": "Dense", "units": 1}]
    raw = preset(SMALL, model={"layers": layers},
                 sweep={"train.seed": [0, 1], "model.layers[1].rate": [0.0, 0.5]})
    plan = plan_sweep(raw, "p.toml")
    runner = SweepRunner(plan, tmp_path, None, "cpu", lambda _e: None, StopToken())
    preps = runner.prepare_all()
    assert joint_groups(preps, prune=False) == [[0, 1, 2, 3]]
    result = runner.run(preps)
    assert {r["status"] for r in result["ranking"]} == {"done"}
    # every variant equals its sequential self, dropout too (each member draws its own masks);
    # seeds give their own splits
    for variant in plan.variants:
        row = next(r for r in result["ranking"] if r["index"] == variant.index)
        summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
        sequential = variant.preset.validation.model_copy(update={"parallel_folds": False})
        alone = Experiment(prepare(variant.preset.model_copy(update={"validation": sequential})),
                           tmp_path / "alone").run()
        assert [f["val_size"] for f in summary["folds"]] == [f["val_size"] for f in alone["folds"]]
        for mine, theirs in zip(summary["folds"], alone["folds"], strict=True):
            assert mine["best"]["mae"] == pytest.approx(theirs["best"]["mae"], rel=1e-5)
    with_test = preset(raw, validation={"test_fraction": 0.2})
    preps = SweepRunner(plan_sweep(with_test, "p"), tmp_path, None, "cpu", lambda _e: None,
                        StopToken()).prepare_all()
    assert len(joint_groups(preps, prune=False)) == 2  # one test part per seed: seeds apart


def test_a_sweep_exports_to_tensorboard_with_its_variants_in_hparams(tmp_path):
    """Each variant's folds as train/validation runs, and its settings and score through the
    HParams plugin, read back with TensorBoard's own EventAccumulator."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    raw = preset(SMALL, train={"epochs": 3},
                 sweep={"model.layers[0].units": [2, 8], "train.learning_rate": [1e-3, 1e-2]})
    result, _ = run_sweep(raw, tmp_path / "runs")
    out = tmp_path / "tb"
    code, said, err = cli("export", result["dir"], "--format", "tensorboard", "--out", str(out))
    assert code == 0 and said.strip() == str(out), err
    variants = sorted(p.name for p in out.iterdir())
    assert len(variants) == 4 and variants[0].startswith("v01-")
    for name in variants:
        folds = sorted(p.name for p in (out / name).iterdir() if p.is_dir())
        assert folds == ["r0-f0", "r0-f1", "r0-f2"], folds  # K=3, each fold its own run
        val = EventAccumulator(str(out / name / "r0-f1" / "validation"))
        val.Reload()
        assert [e.step for e in val.Scalars("epoch_loss")] == [1, 2, 3]
        session = EventAccumulator(str(out / name))
        session.Reload()
        content = session.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = dict(start.session_start_info.hparams)
        assert {"layers[0].units", "train.learning_rate"} <= set(hparams), hparams
