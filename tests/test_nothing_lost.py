"""Nothing lost, nothing let in: one writer per run folder, resume refuses changed data, outputs
never destroy inputs, a resumed log equals the uninterrupted one, damaged checkpoints restart
their training, and odd inputs are one line each."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import BINARY, REGRESSION, cli, dltui, preset
from dltui.engine import EventBus, Experiment, prepare
from dltui.engine.events import EpochEnded, StopToken
from dltui.engine.presets import validate_preset

CSV = "a,b,y\n" + "".join(f"{i},{(i * 7) % 13},{(i * 3) % 2}\n" for i in range(120))
KFOLD = {"name": "k", "data": {"source": "csv:d.csv"},
         "model": {"layers": [{"type": "Dense", "units": 6, "activation": "relu"},
                              {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
         "train": {"loss": "binary_crossentropy", "epochs": 6, "batch_size": 16,
                   "checkpoint_every": 1},
         "validation": {"scheme": "kfold", "k": 3, "parallel_folds": False}}


def stopped_run(root: Path, fold: int = 1, epoch: int = 3) -> Path:
    """A K-fold run on a CSV stopped mid-fold, with a checkpoint of the unfinished fold."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "d.csv").write_text(CSV)
    bus, stop = EventBus(), StopToken()
    bus.subscribe(lambda e: stop.request() if isinstance(e, EpochEnded) and e.fold == fold
                  and e.epoch == epoch else None)
    experiment = Experiment(prepare(validate_preset(KFOLD, "p"), root), root / "runs", bus, stop)
    assert experiment.run()["status"] == "stopped"
    assert experiment.run_dir is not None
    return experiment.run_dir


def steps(run_dir: Path) -> list[tuple]:
    """The log's events without timings or the resume's own notice."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] in ("run_started", "run_ended") or (e["event"] == "notice" and e["code"] == "resumed"):
            continue
        out.append((e["event"], e.get("repeat"), e.get("fold"), e.get("epoch"), e.get("code")))
    return out


def test_a_second_writer_is_refused_and_the_folder_untouched(tmp_path):
    from dltui.engine.runs.lock import FolderLock

    run = stopped_run(tmp_path)
    before = (run / "metrics.jsonl").read_bytes()
    held = FolderLock(run)  # as a `dltui run` or `resume` still writing would hold it
    try:
        second = dltui("resume", str(run))
        assert second.returncode == 2
        line = second.stderr.strip()
        assert "\n" not in line and "another dltui process" in line and "one writer" in line
        assert (run / "metrics.jsonl").read_bytes() == before
    finally:
        held.release()
    # The holder gone (as a killed writer's lock goes with it): the resume goes ahead.
    assert dltui("resume", str(run)).returncode == 0


def test_a_resumed_log_has_the_same_events_as_an_uninterrupted_run(tmp_path):
    run = stopped_run(tmp_path / "a")
    done = dltui("resume", str(run))
    assert done.returncode == 0, done.stderr
    whole_root = tmp_path / "b"
    whole_root.mkdir()
    (whole_root / "d.csv").write_text(CSV)
    whole = Experiment(prepare(validate_preset(KFOLD, "p"), whole_root), whole_root / "runs")
    whole.run()
    assert whole.run_dir is not None
    assert steps(run) == steps(whole.run_dir)
    assert sum(s[0] == "fold_started" for s in steps(run)) == 3


def test_resume_refuses_changed_data_unless_forced(tmp_path):
    run = stopped_run(tmp_path)
    lines = CSV.splitlines()
    lines[5] = "4,12,0"  # same shape, another value
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    refused = dltui("resume", str(run))
    assert refused.returncode == 2
    assert "its data changed since the run started" in refused.stderr and "--force" in refused.stderr
    forced = dltui("resume", str(run), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((run / "summary.json").read_text())["resumed_on_changed_data"] is True


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing a tensor"])
def test_a_damaged_checkpoint_restarts_its_training_with_a_notice(tmp_path, damage):
    from safetensors.torch import load_file, save_file

    run = stopped_run(tmp_path)
    checkpoint = run / "checkpoints" / "r0-f1.safetensors"  # the unfinished fold's
    if damage == "garbage":
        checkpoint.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    else:
        from safetensors import safe_open

        with safe_open(str(checkpoint), framework="pt") as fh:
            meta = fh.metadata()
        tensors = {k: v for k, v in load_file(str(checkpoint)).items() if not k.startswith("gen.")}
        save_file(tensors, str(checkpoint), metadata=meta)
    done = dltui("resume", str(run), "--json")
    assert done.returncode == 0, done.stderr
    notices = [json.loads(x) for x in done.stdout.splitlines() if '"checkpoint"' in x]
    assert notices and "restarts from the first epoch" in notices[0]["message"]
    epochs = [(e[2], e[3]) for e in steps(run) if e[0] == "epoch" and e[2] == 1]
    assert epochs == [(1, n) for n in range(1, 7)]  # the fold's six epochs, once each


def predicting_run(tmp_path: Path) -> Path:
    raw = preset(REGRESSION, train={"epochs": 1}, validation={"scheme": "holdout"})
    experiment = Experiment(prepare(validate_preset(raw, "p")), tmp_path / "runs")
    experiment.run()
    np.savez(tmp_path / "in.npz", x=np.zeros((5, 10), dtype="float32"))
    assert experiment.run_dir is not None
    return experiment.run_dir


def test_outputs_never_destroy_inputs_or_the_run(tmp_path):
    run = predicting_run(tmp_path)
    data = str(tmp_path / "in.npz")
    (tmp_path / "real.csv").write_text("keep me\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    cases = {str(tmp_path / "in.npz"): "is the input file", str(run / "model.json"): "run folder",
             str(run / "weights" / "x.csv"): "run folder", str(tmp_path / "link.csv"): "symbolic link",
             str(tmp_path / "nowhere" / "p.csv"): "no folder", str(tmp_path): "is a folder",
             str(tmp_path / "real.csv"): "exists; --force replaces it"}
    card = (run / "model.json").read_bytes()
    for out, said in cases.items():
        code, _, err = cli("predict", str(run), data, "--out", out)
        assert code == 2 and said in err, (out, err)
        assert err.strip().count("\n") == 0
    assert (tmp_path / "real.csv").read_text() == "keep me\n"
    assert (run / "model.json").read_bytes() == card
    code, _, err = cli("export", str(run), "--out", str(run / "preset.toml"))
    assert code == 2 and "run folder" in err
    code, _, err = cli("predict", str(run), data, "--out", str(tmp_path / "real.csv"), "--force")
    assert code == 0 and forced_rows(tmp_path / "real.csv") == 5, err


def forced_rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


def test_a_full_disk_leaves_no_partial_output(tmp_path):
    from test_faults import tmpfs

    run = predicting_run(tmp_path)
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((20000, 10), dtype="float32"))
    with tmpfs(tmp_path / "small", "64k") as small:
        done = dltui("predict", str(run), str(big), "--out", str(small / "p.csv"))
        assert done.returncode == 2 and "cannot write" in done.stderr
        assert list(small.iterdir()) == []  # neither a partial file nor a temporary one


@pytest.mark.parametrize("fmt,suffix", [("pt2", ".pt2"), ("onnx", ".onnx"),
                                        ("torchscript", ".torchscript.pt")])
def test_an_export_onto_a_full_disk_is_one_line_and_leaves_no_file(tmp_path, fmt, suffix):
    """pt2 on a full disk used to abort the process (SIGABRT) and leave a 0-byte model."""
    from test_faults import tmpfs

    run = predicting_run(tmp_path)
    with tmpfs(tmp_path / "small", "64k") as small:
        (small / "sub").mkdir()
        fd = os.open(small / "filler", os.O_WRONLY | os.O_CREAT)  # full to the last block
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        done = dltui("export", str(run), "--format", fmt, "--out", str(small / "sub" / f"m{suffix}"))
        assert done.returncode == 2, (done.returncode, done.stderr[-500:])
        assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
        assert "nothing was written" in done.stderr
        assert list((small / "sub").iterdir()) == []


BASE = preset(BINARY, train={"epochs": 1})

ODD_PRESETS = {
    "arrays nested 100k deep": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    "tables nested 5,000 deep": ("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "nested too deeply"),
    "epochs = true": (tomli_w.dumps(preset(BASE, train={"epochs": True})),
                      "train.epochs: expected a number, not true/false"),
    "learning_rate = true": (tomli_w.dumps(preset(BASE, train={"learning_rate": True})),
                             "train.learning_rate: expected a number, not true/false"),
    "units = true": (tomli_w.dumps(preset(BASE, model={"layers": [
        {"type": "Dense", "units": True}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]})),
        "units: expected a number, not true/false"),
}


@pytest.mark.parametrize("case", list(ODD_PRESETS))
def test_odd_presets_are_one_line(tmp_path, case):
    text, said = ODD_PRESETS[case]
    (tmp_path / "p.toml").write_text(text)
    for command in ("run", "sweep"):
        code, _, err = cli(command, str(tmp_path / "p.toml"), "--runs-dir", str(tmp_path / "runs"))
        assert code == 2 and said in err, (command, err[-300:])
        assert err.strip().count("\n") == 0


def test_odd_sweeps_and_devices_are_one_line(tmp_path):
    (tmp_path / "latin.toml").write_bytes(tomli_w.dumps(preset(BASE, name="café")).encode("latin-1"))
    cases = [("latin.toml", [], "not UTF-8 text"),
             ("s1.toml", [], "sweep.seed: expected an integer, got 'x'"),
             ("s2.toml", [], "sweep.samples: expected an integer, got True"),
             ("ok.toml", ["--devices", "gpu7"], "device 'gpu7': allowed: auto, cpu, cuda"),
             ("big.toml", [], "the grid has 100,000 variants")]
    (tmp_path / "s1.toml").write_text(tomli_w.dumps(preset(BASE, sweep={
        "seed": "x", "train.epochs": [1, 2]})))
    (tmp_path / "s2.toml").write_text(tomli_w.dumps(preset(BASE, sweep={
        "mode": "random", "samples": True, "train.epochs": [1, 2]})))
    (tmp_path / "ok.toml").write_text(tomli_w.dumps(preset(BASE, sweep={"train.epochs": [1, 2]})))
    (tmp_path / "big.toml").write_text(tomli_w.dumps(preset(BASE, sweep={
        "train.epochs": list(range(1, 101)), "train.batch_size": list(range(1, 101)),
        "train.seed": list(range(10))})))
    for name, extra, said in cases:
        code, _, err = cli("sweep", str(tmp_path / name), *extra, "--runs-dir", str(tmp_path / "runs"))
        assert code == 2 and said in err, (name, err[-300:])
        assert err.strip().count("\n") == 0


def run_on(tmp_path: Path, data: dict, layers: list[dict], loss: str) -> tuple[int, str]:
    raw = {"name": "d", "data": data, "model": {"layers": layers},
           "train": {"loss": loss, "epochs": 1}, "validation": {"scheme": "holdout"}}
    (tmp_path / "p.toml").write_text(tomli_w.dumps(raw))
    code, out, err = cli("run", str(tmp_path / "p.toml"), "--runs-dir", str(tmp_path / "runs"))
    return code, out + err


DENSE = {"type": "Dense", "units": 4, "activation": "relu"}
SIGMOID = {"type": "Dense", "units": 1, "activation": "sigmoid"}


def test_data_that_would_mislead_is_named(tmp_path):
    rows = "".join(f'{i},"{1000 + 37 * i:,}.5",{i % 2}\n' for i in range(60))
    (tmp_path / "fmt.csv").write_text("a,price,y\n" + rows)
    code, said = run_on(tmp_path, {"source": f"csv:{tmp_path / 'fmt.csv'}"}, [DENSE, SIGMOID],
                        "binary_crossentropy")
    assert code == 2 and "column 'price' holds numbers written with separators" in said
    (tmp_path / "pct.csv").write_text("a,rate,y\n" + "".join(f"{i},{i % 40}%,{i % 2}\n" for i in range(60)))
    code, said = run_on(tmp_path, {"source": f"csv:{tmp_path / 'pct.csv'}"}, [DENSE, SIGMOID],
                        "binary_crossentropy")
    assert code == 2 and "column 'rate'" in said and "'0%'" in said
    (tmp_path / "gap.csv").write_text("a,empty,y\n" + "".join(f"{i},,{i % 2}\n" for i in range(60)))
    code, said = run_on(tmp_path, {"source": f"csv:{tmp_path / 'gap.csv'}", "missing": "mean"},
                        [DENSE, SIGMOID], "binary_crossentropy")
    assert code == 0 and "column 'empty' is empty in every row" in said
    (tmp_path / "n.csv").write_text("a,b,count\n" + "".join(f"{i},{i / 2},{i % 6}\n" for i in range(90)))
    code, said = run_on(tmp_path, {"source": f"csv:{tmp_path / 'n.csv'}"},
                        [DENSE, {"type": "Dense", "units": 1}], "mse")
    assert code == 2 and "set data.task = 'regression'" in said


def test_npz_one_hot_labels_and_channels_first_images_are_recognised(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cf.npz", x=rng.normal(size=(60, 3, 8, 8)).astype("float32"),
             y=np.eye(3)[rng.integers(0, 3, 60)])
    code, said = run_on(tmp_path, {"source": f"npz:{tmp_path / 'cf.npz'}"},
                        [{"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"}],
                        "sparse_categorical_crossentropy")
    assert code == 0, said
    assert "y is one-hot (rows of 0 and 1): read as class ids 0 to 2" in said
    assert "looks channels-first" in said and "data.layout = 'channels_first'" in said


def test_what_a_run_folder_says_reaches_the_terminal_without_control_characters(tmp_path):
    run = predicting_run(tmp_path)
    evil = {"event": "notice", "level": "warning", "code": "x", "epoch": 0,
            "message": "before \x1b]0;owned\x07\x1b[2J after"}
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, json.dumps(evil))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    shown = dltui("watch", str(run), "--plain")
    assert "before" in shown.stdout and "\x1b" not in shown.stdout and "\x07" not in shown.stdout


def test_an_onnx_export_prints_only_its_path_on_stdout(tmp_path):
    pytest.importorskip("onnxscript")
    run = predicting_run(tmp_path)
    done = dltui("export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx.data").exists()
    import onnxruntime

    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copy(tmp_path / "m.onnx", alone / "m.onnx")  # the one file, without anything beside it
    session = onnxruntime.InferenceSession(str(alone / "m.onnx"))
    out = session.run(None, {"x": np.zeros((2, 10), dtype=np.float32)})[0]
    assert out.shape == (2, 1)
    assert sys.executable


def test_onnx_opset_is_the_one_asked_for_or_one_line(tmp_path):
    pytest.importorskip("onnxscript")
    import onnx

    run = predicting_run(tmp_path)
    done = dltui("export", str(run), "--format", "onnx", "--opset", "17", "--out",
                 str(tmp_path / "m17.onnx"))
    assert done.returncode == 0, done.stderr
    model = onnx.load(str(tmp_path / "m17.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    low = dltui("export", str(run), "--format", "onnx", "--opset", "9", "--out",
                str(tmp_path / "m9.onnx"))
    assert low.returncode == 2 and "could not convert this model to operator set 9" in low.stderr
    assert low.stderr.strip().count("\n") == 0 and not (tmp_path / "m9.onnx").exists()
    loud = dltui("export", str(run), "--format", "onnx", "--verbose", "--out",
                 str(tmp_path / "mv.onnx"))
    assert loud.returncode == 0 and loud.stdout.strip() == str(tmp_path / "mv.onnx")
    assert loud.stderr.count("\n") > 2  # the exporter's own lines, on stderr
    wrong = dltui("export", str(run), "--opset", "17", "--out", str(tmp_path / "m.pt2"))
    assert wrong.returncode == 2 and "only --format onnx" in wrong.stderr


def test_an_unreachable_ray_address_is_one_line_within_seconds(tmp_path):
    import time

    pytest.importorskip("ray")
    (tmp_path / "s.toml").write_text(tomli_w.dumps(preset(BASE, sweep={"train.epochs": [1, 2]})))
    started = time.monotonic()
    code, _, err = cli("sweep", str(tmp_path / "s.toml"), "--backend", "ray", "--address",
                       "127.0.0.1:1", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "--address 127.0.0.1:1: no Ray cluster answers there" in err
    assert err.strip().count("\n") == 0 and time.monotonic() - started < 20


def test_resume_while_the_original_run_still_writes_is_refused(tmp_path):
    import os
    import signal
    import subprocess
    import time

    (tmp_path / "d.csv").write_text(CSV)
    (tmp_path / "p.toml").write_text(tomli_w.dumps(preset(KFOLD, train={"epochs": 5000})))
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "run", "p.toml", "--runs-dir", "runs"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CI": "true"})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            logs = list((tmp_path / "runs").glob("*/metrics.jsonl"))
            if logs and '"event": "epoch"' in logs[0].read_text():
                break
            time.sleep(0.2)
        run = logs[0].parent
        second = dltui("resume", str(run))
        assert second.returncode == 2, second.stderr
        assert f"(pid {proc.pid})" in second.stderr and "one writer per run folder" in second.stderr
        assert proc.poll() is None  # the original goes on, untouched
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # Killed: the kernel dropped its lock, so the folder takes a writer again.
    from dltui.engine.runs.lock import FolderLock

    FolderLock(run).release()
