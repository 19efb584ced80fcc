"""The Textual app driven by keys with Pilot: build, train, stop, find the run; follow a folder."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import until
from dltui.tui.app import DltuiApp
from dltui.tui.screens.build import BuildScreen
from dltui.tui.screens.runs import RunsScreen
from dltui.tui.screens.train import TrainScreen

FIXTURES = Path(__file__).parent / "fixtures" / "runs"


async def wait_for(pilot, condition, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not reached in time")


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(c, c) for c in text])


@pytest.mark.slow
async def test_build_train_stop_and_find_the_run_by_keys(tmp_path):
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        assert isinstance(build, BuildScreen) and build.model_layers == []
        await wait_for(pilot, lambda: build.data is not None)
        await pilot.press("a")
        for layer in ("Dense 16 relu", "Dense 16 relu", "Dense 1 sigmoid"):
            await type_text(pilot, layer)
            await pilot.press("enter")
        totals = str(build.query_one("#totals").render())
        assert "785 params" in totals
        table = build.query_one("#stack")
        shapes = [str(table.get_row_at(i)[2]) for i in range(1, 4)]
        assert shapes == ["(None, 16)", "(None, 16)", "(None, 1)"]
        # long enough to stop: epochs typed into the form
        build.query_one("#train-epochs").focus()
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "5000")
        build.query_one("#train-batch_size").focus()
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "4")
        await pilot.press("escape", "ctrl+t")
        train = app.screen
        assert isinstance(train, TrainScreen)
        await wait_for(pilot, lambda: train.state.epoch >= 2)
        curves = train.state.current_curves()
        assert curves is not None and len(curves.train) >= 2
        assert train.query_one("#loss-plot").plt  # drawn from the same state
        await pilot.press("s")
        await wait_for(pilot, lambda: train.state.ended is not None)
        assert train.state.ended.status == "stopped"
        await pilot.pause(0.6)
        assert train.query_one("#kfold").row_count == 1  # the stopped fold's row is kept
        await pilot.press("r")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert [r.status for r in runs.runs] == ["stopped"]
        assert runs.query_one("#runs").row_count == 1


async def test_layer_editing_keys(tmp_path):
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        await pilot.press("a")
        await type_text(pilot, "Dense 8 relu")
        await pilot.press("enter")
        await type_text(pilot, "Dense 3")
        await pilot.press("enter", "escape")
        assert [layer.units for layer in build.model_layers] == [8, 3]
        await pilot.press("c")  # duplicate the selected (last) layer
        assert len(build.model_layers) == 3
        await pilot.press("K")  # move it up
        await pilot.press("d")  # delete it
        assert [layer.units for layer in build.model_layers] == [8, 3]
        await pilot.press("up", "e")  # edit the first layer
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "Dense 4 tanh")
        await pilot.press("enter")
        assert build.model_layers[0].units == 4 and build.model_layers[0].activation == "tanh"
        await pilot.press("a")
        await type_text(pilot, "Conv2D 4")
        message = str(build.query_one("#layer-message").render())
        assert "✗" in message and "image" in message  # validated as you type


async def test_bad_settings_are_reported_as_you_type(tmp_path):
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        build.query_one("#train-learning_rate").focus()
        await pilot.press("ctrl+a", "ctrl+k", "0")
        status = str(build.query_one("#status").render())
        assert "train.learning_rate" in status and "greater than 0" in status


async def test_save_then_load_gives_the_same_preset(tmp_path):
    from dltui.engine.presets import load_preset

    app = DltuiApp(preset="kfold-diabetes", runs_dir=tmp_path)
    target = tmp_path / "saved.toml"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("ctrl+s")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, str(target))
        await pilot.press("enter")
        await wait_for(pilot, target.exists)
    shipped, _ = load_preset("kfold-diabetes")
    original = shipped.model_copy(update={"name": "saved"})  # a saved copy gets its own name
    saved, _ = load_preset(target)
    assert saved == original
    app2 = DltuiApp(preset=str(target), runs_dir=tmp_path)
    async with app2.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        assert app2.screen.validate() == original


async def test_watch_view_follows_a_folder_being_written(tmp_path):
    run = tmp_path / "20260101-000000-live"
    run.mkdir()
    lines = (FIXTURES / "20260101-120000-kfold-demo" / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:6]) + "\n")
    app = DltuiApp(runs_dir=tmp_path, watch_dir=run)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.screen
        assert isinstance(view, TrainScreen)
        await wait_for(pilot, lambda: view.state.started is not None)
        before = sum(len(f.train) for f in view.state.folds.values())
        with (run / "metrics.jsonl").open("a") as fh:
            fh.write("\n".join(lines[6:]) + "\n")
        await wait_for(pilot, lambda: view.state.ended is not None)
        after = sum(len(f.train) for f in view.state.folds.values())
        assert after > before and view.query_one("#kfold").row_count == 3 + 2


async def test_the_curves_follow_a_new_fold_at_once_however_costly_the_plots(tmp_path):
    """A fold that starts is drawn at the next poll, titled for what it draws, even when the
    plots are costly enough to be redrawn only now and then (before: into fold 1 the plots still
    showed fold 0 for seconds)."""
    import json

    lines = (FIXTURES / "20260101-120000-kfold-demo" / "metrics.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    def pick(kind, fold):
        return [line for line, e in zip(lines, events, strict=True)
                if e["event"] == kind and e.get("fold") == fold]
    run = tmp_path / "20260101-000000-sequential"
    run.mkdir()
    log = run / "metrics.jsonl"
    fold0 = pick("epoch", 0)
    log.write_text("\n".join([lines[0], *pick("fold_started", 0), *fold0[:3]]) + "\n")
    app = DltuiApp(runs_dir=tmp_path, watch_dir=run)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.screen
        await wait_for(pilot, lambda: view.query_one("#loss-plot").heading.startswith("loss r0 f0"))
        view._plot_cost = 10.0  # as if a redraw took 10 s: drawn only every few seconds
        with log.open("a") as fh:
            fh.write("\n".join([*fold0[3:], *pick("fold_ended", 0), *pick("fold_started", 1),
                                *pick("epoch", 1)[:2]]) + "\n")
        await wait_for(pilot, lambda: view.state.current == (0, 1), seconds=5)
        await wait_for(pilot, lambda: view.query_one("#loss-plot").heading.startswith(
            "loss r0 f1"), seconds=1.5)
        assert view.query_one("#metric-plot").heading.startswith("accuracy r0 f1")


def screen_text(app) -> str:
    """What the terminal shows, as text (the compositor's lines)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(pilot, seconds: float = 30.0) -> None:
    """Wait until the screen stops changing: the same screenshot (text and styles) three times
    0.2 s apart, and no table waiting to re-measure its columns (a DataTable sizes them when
    idle, so a screenshot between a redraw and that idle shows clipped cells). Under load a
    poll, a resize or a footer can land late; a snapshot taken before then differs."""
    from textual.widgets import DataTable

    same, last = 0, None
    for _ in range(int(seconds / 0.2)):
        await pilot.pause(0.2)
        pending = any(t._require_update_dimensions or t._updated_cells
                      for t in pilot.app.screen.query(DataTable))
        shot = pilot.app.export_screenshot()
        same = same + 1 if shot == last and not pending else 0
        last = shot
        if same >= 2:
            return
    raise AssertionError("the screen never settled")


def assert_legible(text: str, whole: list[str], keys: list[str]) -> None:
    """Nothing truncated with an ellipsis, the phrases that matter whole, the essential keys in
    the footer (its last line)."""
    assert "…" not in text, text
    for phrase in whole:
        assert phrase in text, f"{phrase!r} is cut or missing:\n{text}"
    footer = text.splitlines()[-1]
    for key in keys:
        assert key in footer, f"{key!r} not in the footer: {footer!r}"


SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_snapshot_build_screen(snap_compare, size):
    async def loaded(pilot):
        # data loaded and the doctor's panel drawn (binary-breast-cancer has its small-data hint)
        await wait_for(pilot, lambda: pilot.app.screen.data is not None and pilot.app.screen.findings)
        await wait_for(pilot, lambda: "Train" in screen_text(pilot.app).splitlines()[-1])
        await settle(pilot)
        text = screen_text(pilot.app)
        assert_legible(text, ["Dense 16 relu",
                              "(None, 16)", "785 params", "ready: ctrl+t trains", "u undo"],
                       ["Train", "Save", "Runs", "Help", "Quit"])
        if size[0] < 100:  # the settings panel, whole, one key away
            await pilot.press("ctrl+e")
            await pilot.pause(0.2)
            assert_legible(screen_text(pilot.app),
                           ["binary_crossentropy", "learning rate", "569 samples"],
                           ["Train", "Save", "Runs", "Quit"])
            await pilot.press("escape")
            await settle(pilot)

    assert snap_compare(DltuiApp(preset="binary-breast-cancer"), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("fixture", ["20260101-120000-kfold-demo", "20260102-090000-binary-demo"],
                         ids=["kfold", "holdout"])
def test_snapshot_live_view_of_a_finished_run(snap_compare, tmp_path, size, fixture):
    run = tmp_path / fixture
    shutil.copytree(FIXTURES / run.name, run)

    async def finished(pilot):
        await wait_for(pilot, lambda: pilot.app.screen.state.ended is not None)
        await pilot.pause(0.6)
        # The footer can paint after the rest (under load, often): wait for it, then judge.
        await wait_for(pilot, lambda: "Back" in screen_text(pilot.app).splitlines()[-1])
        await settle(pilot)
        whole = ["best 12", "validation", "accuracy", "status done"]
        if "kfold" in fixture:
            whole += ["r0 f2", "all mean", "0.3337"]
        assert_legible(screen_text(pilot.app), whole, ["Back", "Runs", "Help", "Quit"])
        assert "Stop" not in screen_text(pilot.app).splitlines()[-1]  # a finished run

    assert snap_compare(DltuiApp(runs_dir=tmp_path, watch_dir=run), terminal_size=size,
                        run_before=finished)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_snapshot_runs_screen(snap_compare, tmp_path, monkeypatch, size):
    for run in FIXTURES.iterdir():
        shutil.copytree(run, tmp_path / "runs" / run.name)
    monkeypatch.chdir(tmp_path)  # the screen names its folder: keep it the same everywhere

    async def runs(pilot):
        await pilot.pause(0.2)
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        await wait_for(pilot, lambda: "Compare" in screen_text(pilot.app).splitlines()[-1])
        await settle(pilot)
        assert_legible(screen_text(pilot.app),
                       ["binary-demo", "iterated-kfold", "val accuracy 0.9649 @ epoch 12",
                        "val accuracy 0.9831 ± 0.014", "785", "1.5s", "done"],
                       ["Compare", "Sort", "Back", "Help", "Quit"])

    assert snap_compare(DltuiApp(runs_dir=Path("runs")), terminal_size=size, run_before=runs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["text-multihot", "text-lstm", "video-direction", "ctc-sequences"])
async def test_sequence_presets_train_in_the_app(tmp_path, name):
    app = DltuiApp(preset=name, runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        assert "✗" not in str(build.query_one("#totals").render())
        build.query_one("#train-epochs").focus()
        await pilot.press("ctrl+a", "ctrl+k", "2", "escape", "ctrl+t")
        view = app.screen
        assert isinstance(view, TrainScreen)
        await wait_for(pilot, lambda: view.state.ended is not None, 120)
        assert view.state.ended.status == "done"
        assert len(view.state.current_curves().train) == 2


async def test_choosing_a_scheme_shows_the_trainings_it_implies(tmp_path):
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        build.query_one("#validation-scheme").value = "iterated-kfold"
        await until(pilot, lambda: "iterated-kfold: 12 training(s)" in str(
            build.query_one("#trainings").render()))
        assert build.raw["validation"]["scheme"] == "iterated-kfold"
        build.query_one("#validation-final_fit").value = True
        await until(pilot, lambda: "+ a final fit" in str(build.query_one("#trainings").render()))


async def test_runs_screen_overlays_two_runs(tmp_path):
    from dltui.tui.screens.compare import CompareScreen

    for run in FIXTURES.iterdir():
        shutil.copytree(run, tmp_path / run.name)
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        await pilot.press("space", "down", "space", "c")
        await pilot.pause(0.2)
        compare = app.screen
        assert isinstance(compare, CompareScreen) and len(compare.runs) == 2
        # wine (accuracy) and breast cancer (accuracy): loss, then accuracy; never mixed
        assert compare.shared == ["loss", "accuracy"] and compare.metric == "loss"
        await pilot.press("m")
        await pilot.pause(0.2)
        assert compare.metric == "accuracy"
        await pilot.press("escape", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, TrainScreen)


async def test_watch_view_says_when_the_writer_was_killed(tmp_path):
    import json
    import subprocess
    import sys

    run = tmp_path / "20260101-000000-killed"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lines = (FIXTURES / "20260101-120000-kfold-demo" / "metrics.jsonl").read_text().splitlines()
    started = json.loads(lines[0])
    started["pid"] = dead.pid  # a process that is gone
    (run / "metrics.jsonl").write_text("\n".join([json.dumps(started), *lines[1:8]]) + "\n")
    app = DltuiApp(runs_dir=tmp_path, watch_dir=run)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.screen
        await wait_for(pilot, lambda: view.state.ended is not None)
        assert view.state.ended.status == "failed" and "killed" in view.state.ended.message
        assert sum(len(f.train) for f in view.state.folds.values()) > 0


async def test_data_source_suggests_built_in_sets(tmp_path):
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        box = build.query_one("#data-source")
        box.focus()
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, "builtin:dig")
        await pilot.press("right")  # accept the suggestion
        assert box.value == "builtin:digits"
        await wait_for(pilot, lambda: build.data is not None and len(build.data) == 1797)
        assert "1797 samples" in str(build.query_one("#data-info").render())


async def test_saving_elsewhere_keeps_a_relative_csv_path_pointing_at_the_file(tmp_path):
    from dltui.engine.data.dataset import load_data
    from dltui.engine.presets import load_preset

    home = tmp_path / "project"
    (home / "data").mkdir(parents=True)
    (home / "data" / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n"
                                                              for i in range(40)))
    (home / "p.toml").write_text(
        'data = { source = "csv:data/d.csv", target = "y" }\n'
        'model = { layers = [{ type = "Dense", units = 1, activation = "sigmoid" }] }\n'
        'train = { loss = "binary_crossentropy" }\n')
    target = tmp_path / "elsewhere" / "copy.toml"
    target.parent.mkdir()
    app = DltuiApp(preset=str(home / "p.toml"), runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.data is not None)
        await pilot.press("ctrl+s", "ctrl+a", "ctrl+k")
        await type_text(pilot, str(target))
        await pilot.press("enter")
        await wait_for(pilot, target.exists)
    saved, path = load_preset(target)
    assert saved.data.source == "csv:../project/data/d.csv"
    assert len(load_data(saved.data, path.parent)) == 40


async def test_quitting_mid_run_leaves_a_stopped_run(tmp_path):
    from dltui.engine.runs.folder import read_summary

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#train-epochs").focus()
        await pilot.press("ctrl+a", "ctrl+k", *"5000", "escape", "ctrl+t")
        await wait_for(pilot, lambda: app.screen.state.epoch >= 1)
        await pilot.press("ctrl+q")  # asks first: n keeps training
        await pilot.pause(0.2)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.running() is not None and "lr 0.001" in app.screen.state.progress_text()
        await pilot.press("ctrl+q", "y")
    (run,) = tmp_path.iterdir()
    assert read_summary(run)["status"] == "stopped"


async def test_escape_mid_run_keeps_the_run_reachable_and_stoppable(tmp_path):
    from dltui.engine.runs.folder import read_summary

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#train-epochs").focus()
        await pilot.press("ctrl+a", "ctrl+k", *"5000", "escape", "ctrl+t")
        await wait_for(pilot, lambda: app.screen.state.epoch >= 1)
        await pilot.press("escape")  # back to the builder: the run goes on
        await pilot.pause(0.2)
        assert app.screen is build and app.running() is not None
        # ...said in the header of every screen, and the status does not offer ctrl+t
        await wait_for(pilot, lambda: "training binary-breast-cancer" in
                       screen_text(pilot.app).splitlines()[0])
        assert " epoch " in screen_text(pilot.app).splitlines()[0]
        await wait_for(pilot, lambda: "a training is running" in
                       str(build.query_one("#status").render()))
        await pilot.press("ctrl+t")  # one training at a time
        await pilot.pause(0.2)
        assert len(app.training) == 1
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        await pilot.press("enter")  # the running run, on its live source
        await pilot.pause(0.3)
        assert isinstance(app.screen, TrainScreen) and app.screen.source.can_stop
        # The same view as never having left: the run from its start, both plots.
        await wait_for(pilot, lambda: "epoch" in screen_text(pilot.app).splitlines()[1])
        text = screen_text(pilot.app)
        assert "waiting" not in text
        assert app.screen.state.epoch >= 1 and app.screen.state.folds
        titles = [plot.heading for plot in app.screen.query("CurvesPlot")]
        assert titles[0].startswith("loss") and titles[1].startswith("accuracy"), titles
        await pilot.press("s")
        await wait_for(pilot, lambda: app.running() is None)
        await wait_for(pilot, lambda: "status stopped" in screen_text(pilot.app))
    (run,) = tmp_path.iterdir()
    assert read_summary(run)["status"] == "stopped"


async def test_errors_view_from_the_runs_screen_and_unreadable_runs_listed(tmp_path):
    from conftest import BINARY
    from dltui.engine import Experiment, prepare
    from dltui.engine.spec import Preset
    from dltui.tui.screens.errors import ErrorsScreen

    Experiment(prepare(Preset.model_validate(BINARY)), tmp_path).run()
    broken = tmp_path / "20000101-000000-broken"
    broken.mkdir()
    (broken / "metrics.jsonl").write_text('[1]\n{"event": "epoch", "val": "x"}\n')
    (broken / "summary.json").write_text('["not", "an", "object"]')
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert [r.status for r in runs.runs] == ["done", "unreadable"]
        await pilot.press("e")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ErrorsScreen)
        assert sum(map(sum, app.screen.report["confusion_total"])) == 114  # the validation rows
        shown = app.export_screenshot().replace("&#160;", " ")
        assert "confusion matrix" in shown and "precision" in shown
        await pilot.press("escape", "down", "enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, TrainScreen)  # the unreadable run opens without a crash


async def test_save_never_overwrites_without_asking_and_never_writes_a_shipped_preset(tmp_path, monkeypatch):
    from dltui.engine.presets import shipped_presets
    from dltui.tui.screens.prompt import ConfirmScreen, PromptScreen

    monkeypatch.chdir(tmp_path)
    shipped = shipped_presets()["binary-breast-cancer"]
    before = shipped.read_text()
    (tmp_path / "binary-breast-cancer.toml").write_text("# mine\n")
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        prompt = app.screen
        assert isinstance(prompt, PromptScreen)
        # a new file, not the shipped one
        assert prompt.query_one("#answer").value == "binary-breast-cancer-2.toml"
        await pilot.press("enter")
        await pilot.pause(0.2)
        saved = tmp_path / "binary-breast-cancer-2.toml"
        assert saved.exists() and 'name = "binary-breast-cancer-2"' in saved.read_text()
        await pilot.press("ctrl+s")  # now the user's own file: asks before writing over it
        await pilot.pause(0.2)
        prompt = app.screen
        prompt.query_one("#answer").value = "binary-breast-cancer.toml"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert (tmp_path / "binary-breast-cancer.toml").read_text() == "# mine\n"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        app.screen.query_one("#answer").value = str(shipped)
        await pilot.press("enter")
        await pilot.pause(0.2)
    assert shipped.read_text() == before


async def test_runs_screen_sorts_and_exports_curves_csv(tmp_path):
    import csv

    for run in FIXTURES.iterdir():
        shutil.copytree(run, tmp_path / run.name)
    app = DltuiApp(runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        runs = app.screen
        assert [r.path.name for r in runs.runs] == sorted((p.name for p in tmp_path.iterdir()), reverse=True)
        assert all(r.epochs == 12 for r in runs.runs)
        await pilot.press("o")  # by preset
        await pilot.pause(0.2)
        assert runs.sort == "preset" and [r.preset for r in runs.runs] == sorted(r.preset for r in runs.runs)
        await pilot.press("x")
        await pilot.pause(0.2)
        rows = list(csv.DictReader((runs.runs[0].path / "curves.csv").read_text().splitlines()))
        assert rows and {"repeat", "fold", "epoch", "train_loss", "val_loss"} <= set(rows[0])


def test_compare_offers_only_quantities_every_run_has(tmp_path):
    from conftest import REGRESSION, preset
    from dltui.engine import Experiment, prepare
    from dltui.engine.spec import Preset
    from dltui.tui.screens.compare import shared_metrics

    shutil.copytree(FIXTURES / "20260102-090000-binary-demo", tmp_path / "a")
    Experiment(prepare(Preset.model_validate(preset(REGRESSION, validation={"scheme": "holdout"}))),
               tmp_path / "r").run()
    (reg,) = (tmp_path / "r").iterdir()
    assert shared_metrics([tmp_path / "a", reg]) == ["loss"]  # accuracy and mae never share axes
    assert shared_metrics([tmp_path / "a"]) == ["loss", "accuracy"]


async def test_model_keys_work_wherever_the_focus_is_and_undo_restores(tmp_path):
    """a/i/d/u act on the model from a settings field (not while typing in one); `a` adds at
    the end, `i` above the selection; a deletion says how to undo it."""
    from dltui.tui.widgets.layer_stack import LayerStack

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#train-optimizer").focus()  # a Select: letters are not typed into it
        await pilot.pause(0.1)
        await pilot.press("a")
        assert build.focused is build.query_one("#layer-input")
        assert "Typing in a field" in str(build.query_one("#model-keys").render())
        await type_text(pilot, "Dropout 0.5")
        await pilot.press("enter", "escape")
        assert [layer.type for layer in build.model_layers] == ["Dense", "Dense", "Dense", "Dropout"]
        stack = build.query_one(LayerStack)
        stack.move_cursor(row=2)  # layer 1
        await pilot.press("i")
        await type_text(pilot, "Dense 8 relu")
        await pilot.press("enter", "escape")
        assert [getattr(layer, "units", None) for layer in build.model_layers] == [16, 8, 16, 1, None]
        build.query_one("#train-epochs").focus()
        await pilot.press("x")  # typed into the field, not a model key
        assert build.query_one("#train-epochs").value.endswith("x")
        await pilot.press("escape")  # back to the model keys
        stack.move_cursor(row=1)
        await pilot.press("d")
        assert len(build.model_layers) == 4
        await pilot.press("u")
        assert [getattr(layer, "units", None) for layer in build.model_layers] == [16, 8, 16, 1, None]
        await pilot.press("u", "u")
        assert [getattr(layer, "units", None) for layer in build.model_layers] == [16, 16, 1]


async def test_a_layer_that_does_not_fit_is_refused_and_its_preview_allocates_nothing(tmp_path):
    from conftest import PeakGrowth

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        await pilot.press("a")
        await type_text(pilot, "Conv2D 4")
        await pilot.press("enter")
        assert "not added" in str(build.query_one("#layer-message").render())
        assert len(build.model_layers) == 3
        await pilot.press("ctrl+a", "ctrl+k")
        with PeakGrowth() as grown:
            await type_text(pilot, "Dense 100000000")  # 100 million units: 1e8 x 2 params
        message = str(build.query_one("#layer-message").render())
        grown_mb = grown.mb
        assert "200,000,000 params" in message, message  # after the 1-unit layer: 1e8 + 1e8
        assert grown_mb < 100, f"the preview grew the process by {grown_mb:.0f} MB"
        await pilot.press("ctrl+a", "ctrl+k", "escape")
        build.query_one("#stack").move_cursor(row=1)
        await pilot.press("i")  # above the first layer, so the model still ends right
        await type_text(pilot, "Dense 100000000 relu")
        await pilot.press("enter")  # added: the status runs `dltui run`'s checks, memory too
        await wait_for(pilot, lambda: "checking" not in status_of(build))
        assert status_of(build).startswith("✗ model:") and "RAM" in status_of(build), \
            status_of(build)


def status_of(build) -> str:
    return str(build.query_one("#status").render())


@pytest.mark.parametrize("source, says", [
    ("csv:missing.csv", "missing.csv"),
    ("csv:junk.csv", "junk.csv"),
    ("nonsense", "builtin:NAME, csv:PATH"),
])
async def test_the_status_says_why_the_data_did_not_load_at_once(tmp_path, monkeypatch, source,
                                                                   says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.csv").write_bytes(b"a,b,label\n1,2,0\n\xff\xfe,3,1\n4,five,0\n")
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        box = build.query_one("#data-source")
        box.focus()
        await pilot.pause(0.1)
        await pilot.press("ctrl+u", *[{" ": "space"}.get(c, c) for c in source])
        await wait_for(pilot, lambda: "loading" not in status_of(build)
                       and "checking" not in status_of(build))
        text = status_of(build)
        assert text.startswith("✗") and says in text, text
        assert "validation error" not in text and "should" not in text, text


async def test_loading_over_unsaved_edits_asks_and_unfinished_presets_save_with_a_warning(
        tmp_path, monkeypatch):
    from dltui.tui.screens.prompt import ConfirmScreen, PromptScreen

    monkeypatch.chdir(tmp_path)
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#stack").move_cursor(row=1)
        await pilot.press("d", "d", "d")  # no layers left: not runnable
        assert build.model_layers == [] and build.dirty
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.1)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        prompt = app.screen
        assert isinstance(prompt, PromptScreen) and "won't run yet" in prompt.question
        await pilot.press("enter")
        await pilot.pause(0.2)
        saved = tmp_path / "binary-breast-cancer.toml"
        assert saved.exists() and "breast_cancer" in saved.read_text()
        assert not build.dirty
        await pilot.press("ctrl+o")  # saved: no question; the dialog lists what can be loaded
        await pilot.pause(0.2)
        prompt = app.screen
        assert isinstance(prompt, PromptScreen) and "kfold-diabetes" in prompt.choices
        assert saved.name in prompt.choices  # by the name typed here, not an absolute path
        await type_text(pilot, "kfold-di")
        await pilot.press("tab")  # completes
        assert prompt.query_one("#answer").value == "kfold-diabetes"
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen is build and build.raw["name"] == "kfold-diabetes"
        assert isinstance(build.focused, type(build.query_one("#stack")))


async def test_the_command_palette_runs_the_apps_commands(tmp_path):
    from textual.command import CommandPalette

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        titles = [c.title for c in app.get_system_commands(build)]
        for wanted in ("Train", "Save preset", "Load preset", "Load preset kfold-diabetes", "Runs",
                       "Compare runs", "Help"):
            assert wanted in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "Load preset kfold-diabetes")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is build and build.raw.get("name") == "kfold-diabetes")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "Runs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_help_lists_every_binding_of_every_screen():
    from dltui.tui.screens.help import help_text
    from dltui.tui.screens.runs import RunsScreen as Runs
    from dltui.tui.screens.train import TrainScreen as Train

    text = help_text()
    for screen in (BuildScreen, Train, Runs, DltuiApp):
        for binding in screen.BINDINGS:
            described = binding.tooltip or binding.description
            assert described in text, (screen.__name__, binding.key)


async def test_the_build_screen_at_200x50_shows_whole_labels(tmp_path):
    app = DltuiApp(preset="convnet-digits", runs_dir=tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        await pilot.pause(0.3)
        await wait_for(pilot, lambda: "Train" in screen_text(app).splitlines()[-1])
        text = screen_text(app)
        assert_legible(text, ["Conv2D(filters=16, kernel_size=3, strides=1, padding=same, "
                              "activation=relu)", "(None, 16, 8, 8)", "sparse_categorical_crossentropy"],
                       ["Train", "Save", "Runs", "Help", "Quit"])


def test_the_builder_draws_before_torch_loads(tmp_path):
    """First paint within a second (bench/first_paint.py measures it): the app imports no torch
    before its first screen is drawn; torch and the data load behind it, and then the shapes
    and the device list fill in. A fresh process (this one has torch loaded)."""
    script = tmp_path / "paint.py"
    script.write_text(textwrap.dedent('''
        import asyncio, sys
        from dltui.tui.app import DltuiApp
        from dltui.tui.screens.build import BuildScreen

        seen = {"imported": "torch" in sys.modules}
        mount = BuildScreen.on_mount
        def on_mount(self):
            # registered first: runs after the first paint, before the screen's own callbacks
            # start the threads that import torch
            self.call_after_refresh(lambda: seen.setdefault("painted", "torch" in sys.modules))
            mount(self)
            seen["mounted"] = "torch" in sys.modules
        BuildScreen.on_mount = on_mount

        async def main():
            app = DltuiApp(preset="kfold-diabetes")
            async with app.run_test(size=(120, 40)) as pilot:
                for _ in range(300):
                    await pilot.pause(0.1)
                    if app.screen.data is not None and "torch" in sys.modules:
                        break
                await pilot.pause(0.5)
                seen["loaded"] = "torch" in sys.modules
                seen["devices"] = [o for _, o in app.screen.query_one("#train-device")._options]
        asyncio.run(main())
        print(seen)
    '''))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    # (whether the paint itself came before the threads' import is timing: bench/first_paint.py)
    assert seen["imported"] is False and seen["mounted"] is False
    assert seen["loaded"] is True and seen["devices"][:2] == ["auto", "cpu"], seen


async def test_the_whole_result_in_a_popup_with_its_own_keys_and_q_closes_it(tmp_path):
    run = tmp_path / "20260101-120000-kfold-demo"
    shutil.copytree(FIXTURES / run.name, run)
    app = DltuiApp(runs_dir=tmp_path, watch_dir=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.state.ended is not None)
        await pilot.pause(0.3)
        footer = screen_text(pilot.app).splitlines()[-1]
        assert "^q Quit" in footer and "Message" in footer, footer  # whole at 80 columns
        await pilot.press("m")
        await pilot.pause(0.3)
        from dltui.tui.screens.message import MessageScreen

        assert isinstance(app.screen, MessageScreen)
        text = screen_text(pilot.app)
        assert "averaged validation accuracy curve: best at epoch 7" in " ".join(text.split())
        footer = text.splitlines()[-1]
        assert "Close" in footer and "Fold" not in footer, footer  # the dialog's keys
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TrainScreen)


async def test_quitting_with_unsaved_edits_asks_and_enter_is_no(tmp_path):
    from dltui.tui.screens.prompt import ConfirmScreen

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        await pilot.press("ctrl+q")  # nothing edited: quits at once
        await pilot.pause(0.2)
        assert not app.is_running
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#stack").move_cursor(row=1)
        await pilot.press("d")
        assert build.dirty
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        assert "No" in screen_text(pilot.app).splitlines()[-1]  # the dialog's keys
        await pilot.press("enter")  # the safe answer
        await pilot.pause(0.2)
        assert app.is_running and app.screen is build
        await pilot.press("ctrl+q")
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert not app.is_running


async def test_runs_screen_keys_filter_move_delete_and_export_the_marked(tmp_path, monkeypatch):
    from dltui.tui.screens.prompt import ConfirmScreen

    runs = tmp_path / "runs"
    for run in FIXTURES.iterdir():
        shutil.copytree(run, runs / run.name)
    app = DltuiApp(runs_dir=runs, watch_dir=runs / "20260102-090000-binary-demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
        await pilot.press("escape")  # from a watched run: back to the runs, not an empty builder
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        total = len(screen.runs)
        assert total == 2
        await pilot.press("slash", *"kfold")  # typed at once: every letter lands in the filter
        await pilot.pause(0.3)
        assert screen.filter == "kfold" and 0 < len(screen.runs) < total
        assert all("kfold" in (r.path.name + r.preset + r.scheme) for r in screen.runs)
        await pilot.press("escape")  # clears the filter, stays
        await pilot.pause(0.3)
        assert app.screen is screen and len(screen.runs) == total
        table = screen.query_one("#runs")
        await pilot.press("j", "j", "k")  # down, down (the last row stays), up
        assert table.cursor_row == 0
        await pilot.press("space", "j", "space", "x")  # export both marked runs' curves
        await pilot.pause(0.3)
        assert all((r.path / "curves.csv").exists() for r in screen.runs)
        doomed = screen.runs[0].path
        table.move_cursor(row=0)
        await pilot.press("d")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # Enter is no
        await pilot.pause(0.2)
        assert doomed.exists()
        await pilot.press("d")
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause(0.3)
        assert not doomed.exists() and len(screen.runs) == total - 1


def _luminance(color) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def test_the_focused_field_stands_out_at_three_to_one(tmp_path):
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        epochs, seed = build.query_one("#train-epochs"), build.query_one("#train-seed")
        epochs.focus()
        await pilot.pause(0.2)
        focused, other = epochs.styles.background, seed.styles.background
        assert contrast(focused, other) >= 3, (focused, other)
        from textual.color import Color

        text = Color.from_rich_color(epochs.rich_style.color)  # `auto`, resolved
        assert contrast(text, focused) >= 4.5, text  # its text stays readable


async def test_the_load_dialog_offers_local_presets_by_name_and_lists_every_choice(tmp_path,
                                                                                 monkeypatch):
    from dltui.engine.presets import shipped_presets
    from dltui.tui.screens.prompt import PromptScreen

    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parent.parent / "presets" / "kfold-diabetes.toml",
                tmp_path / "mine.toml")
    app = DltuiApp(runs_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.data is not None)
        await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        assert isinstance(app.screen, PromptScreen)
        text = " ".join(screen_text(pilot.app).split())
        for name in [*shipped_presets(), "mine.toml"]:  # all of them, over several lines
            assert name in text, name
        assert str(tmp_path) not in text  # by name, not an absolute path
        await pilot.press("m", "i", "tab", "enter")  # Tab completes the local name
        await pilot.pause(0.5)
        assert app.screen.source_path.resolve() == tmp_path / "mine.toml"


async def test_undo_says_what_it_undid_and_toasts_do_not_pile_up(tmp_path):
    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        build.query_one("#stack").move_cursor(row=1)
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("u")
        await pilot.pause(0.2)
        shown = [n.message for n in app._notifications]
        assert shown == ["undone: delete Dense 16 relu"], shown


def test_y_ticks_are_round_and_never_below_zero_for_a_loss():
    from dltui.tui.widgets.curves import nice_ticks, tick_label, y_range

    assert nice_ticks(2002.5, 5446.8) == [2500, 3000, 3500, 4000, 4500, 5000]
    assert nice_ticks(0.21, 0.99) == [0.4, 0.6, 0.8]
    assert [tick_label(t) for t in nice_ticks(-0.2, 0.2)] == ["-0.2", "-0.1", "0", "0.1", "0.2"]
    losses = [50.0, 40.0, 1.0, 0.9, 0.5, 0.1, 0.05, 0.02]  # a first epoch far above the rest
    lo, _hi = y_range(losses)
    assert lo == 0.0  # the margin below the smallest loss stops at zero
