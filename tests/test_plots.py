"""Plots people can read: every series its own colour-blind-safe colour and marker, readable on
light and dark themes, labels in a legend row instead of over the data; the sweep screen's time
and keys; an open list framed apart from the fields below it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import dltui
from dltui.tui.app import DltuiApp
from dltui.tui.widgets.palette import (
    MARKERS,
    OKABE_ITO,
    contrast,
    legend,
    role_colour,
    series_colour,
    series_marker,
)

FIXTURES = Path(__file__).parent / "fixtures" / "runs"
# the surfaces plots are drawn on in Textual's own dark and light themes
SURFACES = {"textual-dark": (30, 30, 30), "textual-light": (255, 255, 255),
            "solarized-light": (238, 232, 213), "nord": (59, 66, 82)}


async def wait_for(pilot, condition, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not met in time")


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.mark.parametrize("surface", list(SURFACES.values()), ids=list(SURFACES))
def test_every_series_colour_stands_out_three_to_one_on_light_and_dark(surface):
    colours = [series_colour(i, surface) for i in range(len(OKABE_ITO))]
    assert all(contrast(c, surface) >= 3.0 for c in colours), colours
    assert len(set(colours)) == len(OKABE_ITO)  # each series its own colour
    for role in ("train", "validation", "mean", "best", "notice"):
        assert contrast(role_colour(role, surface), surface) >= 3.0
    # orange on white was 2.1:1 as it is; darkened, the same hue (red stays above blue)
    orange = series_colour(1, (255, 255, 255))
    assert orange != OKABE_ITO[1] and orange[0] > orange[1] > orange[2]


def test_no_two_of_the_first_56_series_look_alike_even_without_colour():
    looks = {(series_colour(i, (0, 0, 0)), series_marker(i)) for i in range(56)}
    assert len(looks) == 56
    assert len({series_marker(i) for i in range(len(MARKERS))}) == len(MARKERS)


def test_the_legend_row_never_splits_an_entry():
    entries = [(m, (0, 114, 178), f"v{i:02d} original + dropout 0.5") for i, m in enumerate("•+xo")]
    text = legend(entries, width=50)  # one entry (29 wide) per line: two need 60
    lines = text.plain.split("\n")
    assert len(lines) == 4 and all(len(line) <= 50 for line in lines)
    assert legend(entries, width=60).plain.count("\n") == 1  # two a line
    assert all(line.strip().endswith("dropout 0.5") for line in lines)
    assert legend(entries[:2], width=200).plain.count("\n") == 0
    # the glyph carries the colour; the words are the theme's text colour
    spans = legend(entries[:1], width=80).spans
    assert [(s.start, s.end) for s in spans] == [(0, 1)] and "rgb(0,114,178)" in str(spans[0].style)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_the_live_view_names_marks_in_the_legend_row_not_on_the_data(tmp_path, theme):
    from textual.widgets import Static

    from dltui.tui.widgets.curves import CurvesPlot, plot_background

    run = tmp_path / "20260102-090000-binary-demo"
    shutil.copytree(FIXTURES / run.name, run)
    app = DltuiApp(runs_dir=tmp_path, watch_dir=run)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        await wait_for(pilot, lambda: app.screen.state.ended is not None)
        await wait_for(pilot, lambda: "best 12" in str(app.screen.query_one("#legend", Static).render()))
        row = str(app.screen.query_one("#legend", Static).render())
        assert "train" in row and "validation" in row
        plot = app.screen.query_one("#loss-plot", CurvesPlot)
        region = plot.region
        lines = screen_text(app).splitlines()
        inside = "\n".join(line[region.x:region.right] for line in lines[region.y:region.bottom])
        assert "best" not in inside  # the mark's words are no longer written over the curves
        surface = plot_background(plot)
        assert all(contrast(colour, surface) >= 3.0 for _g, colour, _l in plot.entries)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("sweeps")
    done = dltui("sweep", "sweep-overfitting", "--set", "train.epochs=4", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    return next(p for p in runs.iterdir() if (p / "sweep.jsonl").exists())


async def test_the_sweep_screen_tells_variants_apart_and_has_the_runs_screens_keys(sweep_dir):
    from textual.widgets import DataTable, Static

    from dltui.tui.screens.compare import CompareScreen
    from dltui.tui.screens.errors import ErrorsScreen
    from dltui.tui.screens.sweep import SweepScreen

    app = DltuiApp(runs_dir=sweep_dir.parent, sweep_dir=sweep_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        sweep = app.screen
        assert isinstance(sweep, SweepScreen)
        await wait_for(pilot, lambda: sweep.over and "v05" in str(
            sweep.query_one("#sweep-legend", Static).render()))
        row = str(sweep.query_one("#sweep-legend", Static).render())
        # five variants, five markers, each named once, and no name on the plot itself
        markers = [line.split()[0] for line in row.replace("   ", "\n").replace("  ", "\n")
                   .splitlines() if line.strip()]
        assert len(markers) == 5 == len(set(markers)), row
        assert "(best)" in row
        assert "s" in str(sweep.query_one("#sweep-head", Static).render()).split("(finished)")[0]
        footer = screen_text(app).splitlines()[-1]
        assert "Quit" in footer and "Compare" in footer and "Errors" in footer  # fits in 80
        table = sweep.query_one(DataTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("slash", *"dropout", "enter")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert "dropout" in str(table.get_row_at(0)[2])
        await pilot.press("escape")  # clears the filter first
        await wait_for(pilot, lambda: table.row_count == 5)
        assert app.screen is sweep
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorsScreen))
        assert app.screen.run_dir.parent == sweep_dir
        await pilot.press("escape")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert len(app.screen.runs) == 5
        await wait_for(pilot, lambda: "v05" in str(app.screen.query_one("#compare-legend",
                                                                        Static).render()))
        await pilot.press("escape", "o")
        await wait_for(pilot, lambda: table.get_row_at(0)[1].startswith("v01"))


async def test_the_errors_view_of_a_sweep_offers_its_variants(sweep_dir):
    from textual.widgets import OptionList, Static

    from dltui.engine.runs.sweep_folder import best_variant
    from dltui.tui.screens.errors import ErrorsScreen
    from dltui.tui.screens.runs import RunsScreen

    app = DltuiApp(runs_dir=sweep_dir.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.runs)
        runs = app.screen
        row = next(i for i, r in enumerate(runs.runs) if r.scheme == "sweep")
        runs.query_one("#runs").move_cursor(row=row)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorsScreen))
        said = str(app.screen.query_one("#errors", Static).render())
        assert "is a sweep of 5 variant(s)" in said and "no model.json" not in said
        options = app.screen.query_one("#variants", OptionList)
        assert options.option_count == 5
        best = best_variant(sweep_dir)
        first = str(options.get_option_at_index(0).prompt)  # best first, with its score
        assert first.startswith(f"v{best['index']:02d}") and "val accuracy" in first
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.run_dir.parent == sweep_dir)
        await wait_for(pilot, lambda: "confusion matrix" in screen_text(app))


async def test_an_open_list_is_framed_apart_from_the_labels_and_fields_below(tmp_path):
    from textual.widgets import Label, Select
    from textual.widgets._select import SelectOverlay

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        build = app.screen
        await wait_for(pilot, lambda: build.data is not None)
        select = build.query_one("#train-loss", Select)
        select.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: select.expanded)
        await pilot.pause(0.2)
        overlay = select.query_one(SelectOverlay)
        labels = [label for label in build.query(Label) if "field-label" in label.classes]
        assert all(label.region.right <= overlay.region.x for label in labels)
        assert overlay.styles.border_top[0] == "round"  # a frame: not read as the fields' values
        assert "optimizer" in screen_text(app)  # the label below is still there
        await pilot.press("escape")


async def test_a_running_sweep_shows_its_elapsed_and_remaining_time(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from textual.widgets import Static

    from dltui.tui.screens.sweep import SweepScreen

    # a sweep another process runs (as under tmux on a server), long enough to be watched
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "sweep", "sweep-overfitting",
                             "--set", "train.epochs=2000", "--runs-dir", str(tmp_path), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CI": "true"})
    try:
        for _ in range(300):
            found = [p for p in tmp_path.glob("*sweep*") if (p / "sweep.jsonl").exists()]
            if found:
                break
            time.sleep(0.1)
        app = DltuiApp(runs_dir=tmp_path, sweep_dir=found[0])
        async with app.run_test(size=(80, 24)) as pilot:
            sweep = app.screen
            assert isinstance(sweep, SweepScreen)
            head = sweep.query_one("#sweep-head", Static)
            await wait_for(pilot, lambda: "s left" in str(head.render()), seconds=60)
            said = str(head.render())
            took, left = said.split("variants")[1].split("~")
            assert took.strip().split()[-1].endswith("s")  # the elapsed seconds, then ~Ns left
            assert left.split("s left")[0].isdigit()
            assert not sweep.over and sweep.remaining() > 0
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # only what this test started
        proc.wait(timeout=30)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_a_final_fit_in_progress_is_titled_and_its_axis_runs_to_its_last_epoch(tmp_path,
                                                                                        size):
    import json

    from conftest import cli
    from dltui.tui.widgets.curves import CurvesPlot

    code, _out, err = cli("run", "kfold-diabetes", "--set", "train.epochs=12", "--runs-dir",
                          str(tmp_path / "done"))
    assert code == 0, err
    done = next((tmp_path / "done").iterdir())
    kept, final = [], 0
    for line in (done / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        kept.append(line)
        final += event.get("event") == "epoch" and event.get("fold") == -1
        if final == 4:  # 4 epochs into the final fit, as a watcher would see it mid-run
            break
    target = next(json.loads(x)["epochs"] for x in kept if '"fold": -1' in x and '"epoch"' in x)
    mid = tmp_path / "20260101-000000-mid"
    mid.mkdir()
    (mid / "metrics.jsonl").write_text("\n".join(kept) + "\n")
    app = DltuiApp(runs_dir=tmp_path, watch_dir=mid)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: (app.screen.state.current or (0, 0))[1] < 0)
        await pilot.pause(0.5)
        text = screen_text(app)
        for plot in app.screen.query(CurvesPlot):
            assert "final fit" in plot.heading and plot.heading in text  # drawn, not left out
            region = plot.region
            axis = text.splitlines()[region.bottom - 2][region.x:region.right]
            assert axis.split()[-1] == str(target), axis  # the axis runs to the fit's last epoch
