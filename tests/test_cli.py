"""The `dltui` command as a user meets it: typer's runner for exit codes, real subprocesses for
signals and end-to-end runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import BINARY, REGRESSION, dltui, preset
from dltui.engine.runs.folder import read_events, read_summary
from dltui.tui.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_and_presets_list():
    out = invoke("--help")
    assert out.exit_code == 0 and "run" in out.output and "summary" in out.output
    listed = invoke("presets").output
    assert "binary-breast-cancer" in listed and "IMDB recipe" in listed


def test_summary_reports_785_parameters():
    out = invoke("summary", "binary-breast-cancer")
    assert out.exit_code == 0
    assert "Total params: 785" in out.output and "(None, 16)" in out.output


def test_run_json_emits_one_object_per_event(tmp_path, write_preset):
    path = write_preset(BINARY)
    out = invoke("run", str(path), "--json", "--runs-dir", str(tmp_path / "runs"))
    assert out.exit_code == 0, out.output
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_ended"
    assert sum(e["event"] == "epoch" for e in events) == 3
    assert events[-1]["summary"]["status"] == "done"


def test_set_overrides_reach_the_run(tmp_path, write_preset):
    path = write_preset(BINARY)
    out = invoke("run", str(path), "--set", "train.epochs=2", "--json", "--runs-dir",
                 str(tmp_path))
    assert sum('"event": "epoch"' in line for line in out.stdout.splitlines()) == 2


BAD_INPUTS = {
    "unknown key": (preset(BINARY, train={"epoch": 5}), "did you mean 'epochs'"),
    "bad loss for task": (preset(BINARY, data={"source": "builtin:diabetes"},
                                 train={"loss": "sparse_categorical_crossentropy", "metrics": []}),
                          "does not fit a regression target"),
    "shape mismatch": (preset(BINARY, model={"layers": [{"type": "Conv2D", "filters": 2}]}),
                       "model.layers[0] (Conv2D)"),
    "cuda without cuda": (preset(BINARY, train={"device": "cuda"}), "no CUDA device"),
    "missing data file": (preset(BINARY, data={"source": "csv:nope.csv"}), "no such file"),
    "no training data": (preset(BINARY, validation={"val_fraction": 0.7, "test_fraction": 0.4}),
                         "leaves no training data"),
    "accuracy on regression": (preset(REGRESSION, train={"metrics": ["accuracy"]}),
                               "accuracy needs a classification target"),
    "dropout out of range": (preset(BINARY, model={"layers": [{"type": "Dropout", "rate": 1.5},
                                                              {"type": "Dense", "units": 1,
                                                               "activation": "sigmoid"}]}),
                             "model.layers[0].rate"),
    "unknown layer": (preset(BINARY, model={"layers": [{"type": "Dense3", "units": 1}]}),
                      "unknown layer type 'Dense3'"),
    "unknown builtin": (preset(BINARY, data={"source": "builtin:mnsit"}), "unknown built-in"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case, write_preset, tmp_path):
    if case == "cuda without cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    data, expected = BAD_INPUTS[case]
    path = write_preset(data)
    proc = dltui("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and lines[0].startswith("dltui: error:")
    assert not (tmp_path / "runs").exists()  # nothing written but the error


def test_malformed_toml_and_missing_preset_exit_2(write_preset, tmp_path):
    proc = dltui("run", str(write_preset("[data\n")))
    assert proc.returncode == 2 and "line 1" in proc.stderr and "Traceback" not in proc.stderr
    proc = dltui("run", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "no such preset" in proc.stderr


def test_big_batch_warns_but_trains(write_preset, tmp_path):
    path = write_preset(preset(BINARY, train={"batch_size": 5000, "epochs": 1}))
    proc = dltui("run", str(path), "--runs-dir", str(tmp_path))
    assert proc.returncode == 0 and "larger than the training part" in proc.stderr


@pytest.mark.slow
def test_kfold_preset_prints_table_curve_and_final_fit(tmp_path):
    proc = dltui("run", "kfold-diabetes", "--set", "train.epochs=12", "--runs-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert ("Validation by fold" in out and "| mean |" in out.replace("  ", " ")) or "mean" in out
    for fold in range(4):
        assert f"|      0 |    {fold} |" in out
    assert "averaged validation mae curve" in out and "final fit" in out
    (run_dir,) = tmp_path.iterdir()
    summary = read_summary(run_dir)
    assert len(summary["folds"]) == 4 and summary["final_fit"]["test"]["mae"] > 0
    assert f"test mae {summary['final_fit']['test']['mae']:.4g}" in out
    assert f"best at epoch {summary['averaged_curve']['best_epoch']}" in out


def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dltui.tui", "run", "binary-breast-cancer", "--set", "train.epochs=100000",
         "--set", "train.batch_size=8", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"})
    deadline = time.time() + 60
    while time.time() < deadline:
        dirs = list(runs.glob("*")) if runs.exists() else []
        if dirs and sum(e.kind == "epoch" for e in read_events(dirs[0])) >= 2:
            return proc, dirs[0]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run did not start")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_after_the_batch_and_keeps_the_run(tmp_path, sig, code):
    proc, run_dir = _start_long_run(tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    summary = read_summary(run_dir)
    assert summary["status"] == "stopped" and summary["folds"][0]["epochs_run"] >= 2
    events = read_events(run_dir)
    assert events[-1].kind == "run_ended"


def test_killed_run_stays_readable_by_watch(tmp_path):
    proc, run_dir = _start_long_run(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert read_summary(run_dir) is None
    epochs = [e for e in read_events(run_dir) if e.kind == "epoch"]
    assert len(epochs) >= 2
    watched = dltui("watch", str(run_dir), timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert "epoch 1/100000" in watched.stdout and "killed" in watched.stdout


def test_watch_follows_a_run_in_another_process(tmp_path):
    runs = tmp_path / "runs"
    writer = subprocess.Popen(
        [sys.executable, "-m", "dltui.tui", "run", "binary-breast-cancer", "--set", "train.epochs=25",
         "--set", "train.batch_size=4", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (runs.exists() and any(runs.iterdir())) and time.time() < deadline:
        time.sleep(0.05)
    watcher = subprocess.Popen([sys.executable, "-m", "dltui.tui", "watch", "latest",
                                "--runs-dir", str(runs)], stdout=subprocess.PIPE, text=True)
    first_line_at = None
    lines = []
    assert watcher.stdout is not None
    for line in watcher.stdout:
        if "epoch" in line and first_line_at is None:
            first_line_at = time.time()
        lines.append(line)
    watcher.wait(timeout=60)
    writer.wait(timeout=60)
    assert writer.returncode == 0
    text = "".join(lines)
    assert "epoch 25/25" in text and "status done" in text
    # The watcher saw the first epoch while the writer still had epochs to go.
    assert first_line_at is not None


def test_shell_completion_offers_presets_and_run_folders(tmp_path):
    """What `dltui --install-completion` installs asks dltui itself; it must answer fast (no
    torch) with preset names, preset files and run folders."""
    import shutil

    exe = shutil.which("dltui")
    if exe is None:
        pytest.skip("the dltui script is not on PATH")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_DLTUI_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(cword)}
        done = subprocess.run([exe], env=env, capture_output=True, text=True, cwd=tmp_path,
                              timeout=30)
        return done.stdout.split()

    (tmp_path / "mine.toml").write_text("")
    assert complete("dltui run kfold", 2) == ["kfold-diabetes"]
    assert complete("dltui sweep sweep-o", 2) == ["sweep-overfitting"]
    assert "mine.toml" in complete("dltui run m", 2)
    runs = tmp_path / "runs"
    for name in ("20260101-000000-a", "20260102-000000-b"):
        (runs / name).mkdir(parents=True)
        (runs / name / "summary.json").write_text("{}")
    (runs / "not-a-run").mkdir()
    assert complete("dltui watch ", 2) == ["latest", "20260102-000000-b", "20260101-000000-a"]
    assert complete("dltui report 2026010", 2) == ["20260102-000000-b", "20260101-000000-a"]
    shown = subprocess.run([exe, "--show-completion", "bash"], capture_output=True, text=True,
                           timeout=30)
    assert shown.returncode == 0 and "_DLTUI_COMPLETE" in shown.stdout


def test_listing_presets_imports_no_torch():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dltui.tui", "presets"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "book-mnist-convnet" in done.stdout
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "torch" not in modules and "sklearn" not in modules


def test_the_collector_is_paused_for_start_up_and_given_back():
    """Start-up's objects are frozen, not walked by every later collection; the collector comes
    back as it was, on success and on a refusal alike (tests call the CLI in this process)."""
    import gc
    import weakref

    from conftest import cli
    from dltui.tui.startup import collector_paused

    class Node:
        pass

    assert gc.isenabled()
    before = gc.get_freeze_count()
    kept = [[object()] for _ in range(1000)]
    earlier = Node()
    earlier.me = earlier  # garbage from before the block: collected, not frozen
    gone = weakref.ref(earlier)
    del earlier
    with collector_paused():
        assert gone() is None
        assert not gc.isenabled()
        kept += [[object()] for _ in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= before + 1000
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    code, _, _ = cli("run", "no-such-preset")
    assert code == 2 and gc.isenabled()
    gc.unfreeze()
    del kept
