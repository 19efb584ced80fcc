"""Failures lose nothing: out of memory, a second Ctrl+C, half-written lines, hostile names."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import torch

from conftest import BINARY, dltui, preset
from dltui.engine import Experiment, prepare
from dltui.engine.runs.folder import EventFollower, new_run_dir, parse_lines, read_events, safe_name
from dltui.engine.spec import Preset
from dltui.engine.train.loop import SingleTrainee


def test_out_of_memory_names_the_batch_size_and_keeps_the_run(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = SingleTrainee.train_epoch

    def flaky(self, stop, progress):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, stop, progress)

    monkeypatch.setattr(SingleTrainee, "train_epoch", flaky)
    exp = Experiment(prepare(Preset.model_validate(preset(BINARY, train={"epochs": 5}))), tmp_path)
    summary = exp.run()
    assert summary["status"] == "failed"
    assert "batch size 32" in summary["message"] and "smaller" in summary["message"]
    assert sum(e.kind == "epoch" for e in read_events(exp.run_dir)) == 2


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dltui.tui", "run", "binary-breast-cancer", "--set", "train.epochs=100000",
         "--runs-dir", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list(runs.glob("*/metrics.jsonl")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err
    for run in runs.iterdir():  # whatever was written is whole lines
        for line in (run / "metrics.jsonl").read_text().splitlines():
            json.loads(line)


def test_readers_skip_a_half_written_last_line(tmp_path):
    whole = json.dumps({"event": "notice", "level": "hint", "code": "x", "message": "m"})
    assert len(parse_lines(whole + "\n" + whole[:20])) == 1
    run = tmp_path / "run"
    run.mkdir()
    path = run / "metrics.jsonl"
    path.write_text(whole + "\n" + whole[:15])
    follower = EventFollower(run)
    assert len(follower.poll()) == 1
    with path.open("a") as fh:
        fh.write(whole[15:] + "\n")
    assert len(follower.poll()) == 1  # the finished line arrives once, whole


def test_run_folder_names_cannot_escape(tmp_path):
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("...") == "run"
    path = new_run_dir(tmp_path / "runs", "../../../outside")
    assert path.parent == tmp_path / "runs"


def test_unreadable_csv_is_a_clear_error(write_preset, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n\xff\xfe,1\n")
    proc = dltui("run", str(write_preset(preset(BINARY, data={"source": f"csv:{bad}"}))))
    assert proc.returncode == 2 and "cannot read as CSV" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unexpected_error_marks_the_run_failed(tmp_path, monkeypatch):
    def broken(self, stop, progress):
        raise RuntimeError("something no one planned for")

    monkeypatch.setattr(SingleTrainee, "train_epoch", broken)
    exp = Experiment(prepare(Preset.model_validate(BINARY)), tmp_path)
    summary = exp.run()
    assert summary["status"] == "failed" and "RuntimeError" in summary["message"]
    assert json.loads((exp.run_dir / "summary.json").read_text())["status"] == "failed"
