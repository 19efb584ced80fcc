"""Faults around the run folder and the CLI's edges: one line and exit 2 for bad input, a clean
failure (exit 1, whole lines, status failed) when the disk fills, strict JSON everywhere, readers
that survive files of the wrong shape."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import tomli_w

from conftest import BINARY, dltui, preset


def strict_loads(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """Bad input: one line on stderr. A training failure: progress lines, then one error line."""
    assert result.returncode == code, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    if code == 2:
        assert len(lines) == 1, result.stderr
    errors = [line for line in lines if line.startswith("dltui:")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def test_runs_dir_that_is_a_file_or_under_one_is_one_line(tmp_path, write_preset):
    p = write_preset(BINARY)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for runs_dir in (blocker, blocker / "sub"):
        line = one_line_error(dltui("run", str(p), "--runs-dir", str(runs_dir)))
        assert f"runs directory '{runs_dir}'" in line and "--runs-dir" in line


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str):
    path.mkdir()
    opts = ",".join([f"size={size}", *options])
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_runs_dir_and_working_directory(tmp_path, write_preset):
    p = write_preset(BINARY)
    with tmpfs(tmp_path / "ro", "1m", "ro") as ro:
        line = one_line_error(dltui("run", str(p), "--runs-dir", str(ro / "runs")))
        assert "Read-only file system" in line
        line = one_line_error(dltui("run", str(p), cwd=ro))  # default runs/ under the cwd
        assert "runs directory 'runs'" in line


def test_disk_full_fails_cleanly_and_keeps_whole_lines(tmp_path, write_preset):
    p = write_preset(preset(BINARY, train={"epochs": 3000}))
    with tmpfs(tmp_path / "small", "96k") as small:
        result = dltui("run", str(p), "--runs-dir", str(small))
        line = one_line_error(result, code=1)
        assert "No space left on device" in line
        (run,) = list(small.iterdir())
        assert not [f for f in run.rglob("*") if ".tmp" in f.name]
        text = (run / "metrics.jsonl").read_text()
        assert text.endswith("\n")
        for row in text.splitlines():
            strict_loads(row)
        listed = dltui("runs", "--runs-dir", str(small))
        assert listed.returncode == 0 and "failed" in listed.stdout and "running" not in listed.stdout


def test_every_json_line_and_summary_is_strict_json(tmp_path, write_preset):
    p = write_preset(preset(BINARY, validation={"scheme": "kfold", "k": 2, "final_fit": True}))
    result = dltui("run", str(p), "--json", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any('"fold": -1' in line for line in lines)  # the final fit's epochs are there
    for line in lines:
        strict_loads(line)
    (run,) = list((tmp_path / "runs").iterdir())
    for line in (run / "metrics.jsonl").read_text().splitlines():
        strict_loads(line)
    strict_loads((run / "summary.json").read_text())
    strict_loads((run / "model.json").read_text())


def test_readers_survive_files_of_the_wrong_shape(tmp_path, write_preset):
    runs = tmp_path / "runs"
    good = dltui("run", str(write_preset(BINARY)), "--runs-dir", str(runs))
    assert good.returncode == 0
    for name, summary in (("list", "[1, 2]"), ("string", '"done"'), ("bad", "{not json")):
        run = runs / f"20200101-000000-{name}"
        run.mkdir()
        (run / "metrics.jsonl").write_text('[1, 2]\n"x"\n{"event": "epoch", "train": "oops"}\n')
        (run / "summary.json").write_text(summary)
    listed = dltui("runs", "--runs-dir", str(runs))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert listed.stdout.count("unreadable") == 3 and "tiny-binary" in listed.stdout
    watched = dltui("watch", "20200101-000000-list", "--plain", "--runs-dir", str(runs), timeout=30)
    assert "Traceback" not in watched.stderr


def test_the_run_folder_preset_reruns_from_any_directory(tmp_path, write_preset):
    data = tmp_path / "data"
    data.mkdir()
    (data / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(60)))
    work = tmp_path / "work"
    work.mkdir()
    p = preset(BINARY, data={"source": "csv:../data/d.csv", "target": "y"})
    (work / "p.toml").write_text(tomli_w.dumps(p))
    first = dltui("run", "p.toml", "--runs-dir", str(tmp_path / "runs"), cwd=work)
    assert first.returncode == 0, first.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = dltui("run", str(run / "preset.toml"), "--runs-dir", str(tmp_path / "runs2"), cwd=elsewhere)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--device", "gpu"], "--device gpu: allowed: auto, cpu, cuda, cuda:N"),
    (["--set", "train.epoch=5"], "--set train.epoch=5: train.epoch: unknown key; did you mean 'epochs'?"),
    (["--set", "train.seed=-3"],
     "--set train.seed=-3: train.seed: Input should be greater than or equal to 0"),
    (["--set", "train.seed=99999999999"], "train.seed: Input should be less than or equal to 4294967295"),
])
def test_cli_edges_are_one_line_naming_the_option(write_preset, args, expected):
    line = one_line_error(dltui("run", str(write_preset(BINARY)), *args))
    assert expected in line


def test_a_preset_saved_with_a_bom_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(BINARY).encode())
    result = dltui("summary", str(path))
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(path) > 3


def test_run_folder_lines_write_non_finite_numbers_as_null():
    """Lines without NaN are written at once; one with NaN or an infinity anywhere inside is
    walked and written with nulls, so every parser reads it."""
    from dltui.engine.runs.folder import dumps

    assert dumps({"loss": 0.5, "folds": [1, 2]}) == '{"loss": 0.5, "folds": [1, 2]}'
    line = dumps({"loss": float("nan"), "val": {"mae": [1.0, float("inf"), -float("inf")]}})
    assert json.loads(line, parse_constant=lambda name: pytest.fail(name)) == {
        "loss": None, "val": {"mae": [1.0, None, None]}}
