"""The real app in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


class Tmux:
    def __init__(self, command: str, width: int = 100, height: int = 30) -> None:
        self.socket = f"dltui-test-{os.getpid()}-{time.monotonic_ns()}"
        env = {**os.environ, "TERM": "xterm-256color"}
        env.pop("CI", None)
        # Textual takes COLUMNS/LINES over the terminal's size; pytest-xdist's workers have them
        # (80x24), so a 120x40 session drew at 80x24.
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", str(width),
                        "-y", str(height), command], check=True, env=env)

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p"],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", *keys], check=True)

    def wait_for(self, text: str, seconds: float = 90) -> str:
        deadline = time.time() + seconds
        while time.time() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_app(tmp_path: Path):
    sessions: list[Tmux] = []

    def start(*args: str, size: tuple[int, int] = (100, 30)) -> Tmux:
        command = " ".join([sys.executable, "-m", "dltui.tui", *args])
        session = Tmux(f"cd {tmp_path} && {command}", *size)
        sessions.append(session)
        return session

    yield start
    for s in sessions:
        s.close()


def test_app_loads_a_preset_trains_and_shows_the_kfold_table(tmux_app, tmp_path):
    app = tmux_app("open", "kfold-diabetes", "--runs-dir", str(tmp_path / "runs"))
    app.wait_for("ready: ctrl+t trains", 60)
    app.wait_for("4,929 params", 30)  # shapes appear once the data has loaded
    app.keys("C-t")
    screen = app.wait_for("status done", 120)
    rows = [line.split() for line in screen.splitlines()]
    folds = [r for r in rows if len(r) > 4 and r[0] == "r0" and r[2].split("/")[0] in
             ("265", "266")]
    assert [r[1] for r in folds] == ["f0", "f1", "f2", "f3"]
    assert any(r[:2] == ["all", "mean"] for r in rows)
    assert any(r[:2] == ["all", "std"] for r in rows)
    assert "final fit" in screen
    app.keys("C-q")


def test_watch_shows_a_headless_run_as_it_lands(tmux_app, tmp_path):
    runs = tmp_path / "runs"
    writer = subprocess.Popen(
        # Long enough (about 15 s here) that the watcher, which takes seconds to start, sees it
        # run: 40 epochs finished in 3 s on an idle machine before the watch screen was up.
        [sys.executable, "-m", "dltui.tui", "run", "binary-breast-cancer", "--set", "train.epochs=200",
         "--set", "train.batch_size=2", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (runs.exists() and any(runs.glob("*/metrics.jsonl"))) and time.time() < deadline:
            time.sleep(0.1)
        watch = tmux_app("watch", "latest", "--runs-dir", str(runs))
        first = watch.wait_for("running", 60)
        assert "epoch" in first
        done = watch.wait_for("status done", 300)
        assert "epoch 200/200" in done
        assert writer.wait(timeout=120) == 0
    finally:
        writer.kill()


def test_every_screen_at_80x24_with_real_keys(tmux_app, tmp_path):
    """80 columns, 24 rows: the builder (model, then settings), a training's live view and the
    runs list, each legible and driven by the keys the footer shows."""
    app = tmux_app("open", "binary-breast-cancer", "--runs-dir", str(tmp_path / "runs"), size=(80, 24))
    screen = app.wait_for("785 params", 60)
    assert "Dense 16 relu" in screen and "…" not in screen
    footer = screen.rstrip().splitlines()[-1]
    assert all(key in footer for key in ("Train", "Save", "Runs", "Help", "Quit")), footer
    app.keys("i")  # insert above the selection (the input row: at the top)
    app.wait_for("Typing in a field", 10)
    app.keys("Dropout 0.2", "Enter", "Escape")
    app.wait_for("Dropout 0.2", 10)
    app.keys("C-e")  # the settings panel, whole width
    screen = app.wait_for("learning rate", 10)
    assert "binary_crossentropy" in screen and "…" not in screen
    app.keys("Escape", "C-t")
    screen = app.wait_for("status done", 120)
    assert "best" in screen and "validation" in screen and "…" not in screen
    app.keys("r")
    screen = app.wait_for("status/headline", 20)
    assert "binary-breast-cancer" in screen and "done" in screen and "val accuracy" in screen
    app.keys("Escape", "Escape", "C-q")


def test_the_sweep_screen_and_help_at_80x24(tmux_app, tmp_path):
    runs = tmp_path / "runs"
    made = subprocess.run(
        [sys.executable, "-m", "dltui.tui", "sweep", "binary-breast-cancer", "--vary",
         "train.learning_rate=0.001,0.01", "--set", "train.epochs=3", "--runs-dir", str(runs)],
        capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    sweep = next(runs.iterdir())
    app = tmux_app("watch", str(sweep), "--runs-dir", str(runs), size=(80, 24))
    screen = app.wait_for("(finished)", 60)
    assert "learning_rate=0.01" in screen and "learning_rate=0.001" in screen
    assert "…" not in screen and "Hide" in screen.rstrip().splitlines()[-1]
    app.keys("?")
    screen = app.wait_for("dltui keys", 20)
    assert "…" not in screen
    app.keys("Escape", "C-q")


def test_the_builder_is_drawn_before_torch_has_loaded(tmux_app, tmp_path):
    """The first screen a terminal shows is the whole builder while torch still loads behind it
    (the status says ready only once `dltui run`'s own checks, which need torch, have passed):
    torch is never what the user waits for first. Shapes need only the data, never torch."""
    app = tmux_app("open", "kfold-diabetes", "--runs-dir", str(tmp_path / "runs"), size=(120, 40))
    deadline = time.time() + 60
    first = ""
    while time.time() < deadline and "Model:" not in first:
        first = app.screen()
        time.sleep(0.03)
    assert "source" in first and "Dense 64 relu" in first
    assert "ready" not in first, first
    screen = app.wait_for("4,929 params", 60)  # the shapes arrive on the same screen ...
    app.wait_for("ready: ctrl+t trains", 60)  # ... and the run's checks once torch is there
    assert "Model:" in screen
    app.keys("C-q")


def test_a_live_run_reopened_shows_the_live_view_and_still_stops(tmux_app, tmp_path):
    """ctrl+t, Esc, ctrl+r, Enter on the running row: the live view as if never left (it was
    "waiting for the run to start" for good), and `s` still stops the run."""
    app = tmux_app("open", "kfold-diabetes", "--set", "train.epochs=3000", "--set",
                   "validation.parallel_folds=false", "--runs-dir",
                   str(tmp_path / "runs"), size=(120, 40))
    app.wait_for("4,929 params", 60)
    app.keys("C-t")
    app.wait_for("r0 f0", 60)
    app.keys("Escape")
    app.wait_for("a training is running", 20)
    app.keys("C-r")
    app.wait_for("running", 20)
    app.keys("Enter")
    screen = app.wait_for("mae r0 f", 30)  # the metric plot is there too, titled
    assert "loss r0 f" in screen and "waiting for the run to start" not in screen
    assert "trainings" in screen and "train" in screen and "validation" in screen
    app.keys("s")
    screen = app.wait_for("status stopped", 60)
    app.keys("C-q")


def test_keys_typed_at_full_speed_all_land(tmux_app, tmp_path):
    """One burst, no pauses (tmux writes it into the terminal at once): every key lands in the
    field it was typed into, in order, and the saved preset says so. Textual runs an Input's
    editing keys (ctrl+u, Enter) only after the key bubbles back to the app, so without
    priority bindings the next character landed first: ctrl+u `25` left `5`."""
    app = tmux_app(size=(120, 40))
    app.wait_for("569 samples", 60)
    # a: the layer field; two layers; from the layer field Tab walks: doctor, source, target,
    # view, task, time-ordered, loss, optimizer, learning rate, metrics, epochs (11), batch size
    burst = ["a", "Dense 16 relu", "Enter", "Dense 1 sigmoid", "Enter",
             *["Tab"] * 11, "C-u", "25", "Tab", "C-u", "64", "Tab", "C-u", "7"]
    app.keys(*burst)
    app.wait_for("x 25 epochs", 30)  # the form's trainings line follows the last change
    screen = app.wait_for("ready: ctrl+t trains", 30)
    form = [line.split("│")[0].split() for line in screen.splitlines()]
    fields = {words[0]: words[-1] for words in form if words and words[0] in ("epochs", "seed")}
    assert fields == {"epochs": "25", "seed": "7"}, screen
    assert "Dense 16 relu" in screen and "Dense 1 sigmoid" in screen
    app.keys("C-s")
    app.wait_for("Save preset as", 30)
    app.keys("Enter")
    saved = tmp_path / "my-model.toml"
    for _ in range(100):
        if saved.exists():
            break
        time.sleep(0.1)
    import tomllib

    preset = tomllib.loads(saved.read_text())
    assert (preset["train"]["epochs"], preset["train"]["batch_size"], preset["train"]["seed"]) \
        == (25, 64, 7)
    assert [(layer["type"], layer["units"]) for layer in preset["model"]["layers"]] == \
        [("Dense", 16), ("Dense", 1)]
