"""Validation schemes and the doctor say only what happened: a scheme that cannot do what it
says is refused (by `check` exactly as by `run`), the averaged curve is of every fold, ties go to
the loss and the advice agrees with the choice, a class-sorted split is warned about."""

from __future__ import annotations

import json

import pytest

from conftest import BINARY, REGRESSION, dltui, preset
from dltui.engine.data.dataset import load_data
from dltui.engine.doctor.curves import advice
from dltui.engine.doctor.examine import apply_fix, examine
from dltui.engine.doctor.verdict import verdict
from dltui.engine.errors import InputError
from dltui.engine.presets import validate_preset
from dltui.engine.train.loop import FoldInfo, FoldOutcome
from dltui.engine.train.results import averaged_curve

IRIS = preset(BINARY, data={"source": "builtin:iris"},
              model={"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                                {"type": "Dense", "units": 3, "activation": "softmax"}]},
              train={"loss": "sparse_categorical_crossentropy"})
SINE = preset(REGRESSION, data={"source": "builtin:sine", "samples": 200, "timesteps": 8},
              model={"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 1}]},
              validation={"scheme": "holdout"})

REFUSED = [
    ("iterated-kfold unshuffled", preset(BINARY, validation={"scheme": "iterated-kfold", "k": 3,
                                                             "repeats": 2, "shuffle": False}),
     "validation.shuffle"),
    ("iterated-kfold on a time series", preset(SINE, validation={"scheme": "iterated-kfold", "k": 3}),
     "validation.scheme"),
    ("reshuffled hold-out unshuffled", preset(BINARY, validation={"shuffles": 3, "shuffle": False}),
     "validation.shuffles"),
    ("reshuffled hold-out on a time series", preset(SINE, validation={"shuffles": 3}),
     "validation.shuffles"),
]


@pytest.mark.parametrize(("case", "raw", "key"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_scheme_that_cannot_do_what_it_says_is_refused_by_run_and_by_check(
        case, raw, key, write_preset, tmp_path):
    path = write_preset(raw)
    run = dltui("run", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert run.returncode == 2, run.stderr
    line = run.stderr.strip()
    assert line.startswith(f"dltui: error: {key}:") and "\n" not in line
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    check = dltui("check", str(path), "--json")
    assert check.returncode == 1
    refused = [f for f in json.loads(check.stdout) if f["severity"] == "error"]
    assert refused and refused[0]["where"] == key
    assert refused[0]["message"] in line


def test_the_summary_says_what_the_splits_did(tmp_path, write_preset):
    raw = preset(BINARY, validation={"scheme": "iterated-kfold", "k": 3, "repeats": 2},
                 train={"epochs": 1})
    done = dltui("run", str(write_preset(raw)), "--json", "--runs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    splits = json.loads(done.stdout.splitlines()[-1])["summary"]["splits"]
    assert splits == {"scheme": "iterated-kfold", "shuffled": True, "stratified": True,
                      "forward_chaining": False, "repeats": 2, "folds": 3, "trainings": 6,
                      "test_size": 0}


def outcome(fold: int, curve: list[float], losses: list[float] | None = None) -> FoldOutcome:
    losses = losses or [1.0] * len(curve)
    history = [({"loss": 1.0}, {"loss": loss, "mae": v}) for v, loss in zip(curve, losses, strict=True)]
    return FoldOutcome(FoldInfo(0, fold, 10, 5), history, best_epoch=1)


def test_the_averaged_curve_covers_only_the_epochs_every_fold_reached():
    # Fold 1 stopped early at epoch 3; past it, fold 0 alone would make epoch 5 look best.
    folds = [outcome(0, [5.0, 4.0, 3.0, 2.0, 0.1]), outcome(1, [5.0, 4.0, 3.5])]
    curve = averaged_curve(folds, "mae", 0.0)
    assert curve["values"] == [5.0, 4.0, 3.25]
    assert curve["best_epoch"] == 3 and curve["epochs"] == 3
    assert "every fold reached" in curve["note"]


def test_a_tie_on_accuracy_goes_to_the_epoch_with_the_lower_loss():
    flat = [0.5, 0.9, 0.9, 0.9]
    folds = [outcome(f, flat, [0.9, 0.5, 0.4, 0.3]) for f in range(2)]
    for o in folds:  # accuracy, not mae: higher is better
        o.history = [(t, {"loss": v["loss"], "accuracy": v["mae"]}) for t, v in o.history]
    curve = averaged_curve(folds, "accuracy", 0.0)
    assert curve["best_epoch"] == 4
    assert "epochs 2-4" in curve["tie"]


def test_the_advice_does_not_say_train_about_n_where_the_curve_was_still_improving():
    still = advice({"averaged_curve": {"best_epoch": 40, "epochs": 40}}, set())
    assert still["epochs"] is None and "still improving at the last epoch (40)" in still["next"]
    earlier = advice({"averaged_curve": {"best_epoch": 28, "epochs": 40}}, set())
    assert earlier["epochs"] == 28 and "28" in earlier["next"] and "train longer" not in earlier["next"]


def test_a_validation_part_sorted_by_class_is_the_representativeness_warning(write_preset):
    sorted_split = preset(IRIS, validation={"scheme": "holdout", "shuffle": False})
    found = {f.id: f for f in verdict(validate_preset(sorted_split, "p.toml"))}
    assert "representativeness" in found
    assert "100% class" in found["representativeness"].message
    assert "representativeness" not in {f.id for f in verdict(validate_preset(IRIS, "p.toml"))}
    shown = dltui("check", str(write_preset(sorted_split)))
    assert "[representativeness]" in shown.stdout and "sorted by class" in shown.stdout


def test_check_agrees_with_run_on_every_shipped_scheme_rule():
    """The doctor alone passed a time-ordered iterated K-fold that `run` refuses; the verdict
    refuses it with `run`'s own message."""
    raw = preset(SINE, validation={"scheme": "iterated-kfold", "k": 3})
    spec = validate_preset(raw, "p.toml")
    with pytest.raises(InputError) as refused:
        from dltui.engine.preflight import prepare

        prepare(spec)
    errors = [f for f in verdict(spec) if f.severity == "error"]
    assert errors and f"{errors[0].where}: {errors[0].message}" == str(refused.value)


def ids(raw: dict) -> dict:
    spec = validate_preset(raw, "p.toml")
    return {f.id: f for f in examine(spec, load_data(spec.data, None))}


DENSE = {"type": "Dense", "units": 16, "activation": "relu"}


def test_a_relu_output_on_a_target_with_negative_values_is_found():
    # The sine series goes below zero; a relu output never can.
    relu_out = preset(SINE, model={"layers": [{"type": "Flatten"},
                                              {"type": "Dense", "units": 1, "activation": "relu"}]})
    found = ids(relu_out)["bounded-output"]
    assert "values of 0 or more" in found.message
    assert "bounded-output" not in ids(apply_fix(relu_out, found.fix))
    # Diabetes targets are all positive: a relu output is no problem there.
    assert "bounded-output" not in ids(preset(REGRESSION, model={"layers": [
        DENSE, {"type": "Dense", "units": 1, "activation": "relu"}]}))


def test_a_one_unit_softmax_is_described_as_always_one():
    one = {"type": "Dense", "units": 1, "activation": "softmax"}
    regression = ids(preset(REGRESSION, model={"layers": [DENSE, one]}))["bounded-output"]
    assert "always outputs exactly 1" in regression.message and "0 to 1" not in regression.message
    binary = ids(preset(BINARY, model={"layers": [DENSE, one]}))["output-loss"]
    assert "exactly 1" in binary.message or "softmax" in binary.message


def test_a_final_relu_layer_is_named_not_called_no_activation():
    found = ids(preset(BINARY, model={"layers": [DENSE, DENSE]}))["output-loss"]
    assert "ends with relu" in found.message and "no activation" not in found.message


def test_the_small_data_fix_is_one_that_works_when_shuffling_is_off():
    unshuffled = preset(BINARY, validation={"shuffle": False})
    found = ids(unshuffled)["small-data"]
    assert found.fix == {"validation.scheme": "kfold"}
    assert "shuffles = 5" not in found.message
    fixed = apply_fix(unshuffled, found.fix)
    assert "small-data" not in ids(fixed)
    assert ids(BINARY)["small-data"].fix == {"validation.shuffles": 5}


def ctc_npz(tmp_path, targets: list[list[int]]) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = targets * 10
    x = rng.normal(size=(len(rows), 3, 4)).astype("float32")
    np.savez(tmp_path / "ctc.npz", x=x, y=np.array(rows, dtype="int64"))
    return {"name": "ctc3", "data": {"source": f"npz:{tmp_path / 'ctc.npz'}", "task": "sequence"},
            "model": {"layers": [{"type": "LSTM", "units": 4, "return_sequences": True},
                                 {"type": "Dense", "units": 3}]},
            "train": {"loss": "ctc", "metrics": ["ser"], "epochs": 1, "batch_size": 8},
            "validation": {"scheme": "holdout"}}


def test_a_ctc_target_that_cannot_be_aligned_is_refused_not_costed_zero(tmp_path, write_preset):
    """T = 3 output timesteps: `1 1 1` needs 5 (a blank between equal neighbours), `1 2 1` 3."""
    raw = ctc_npz(tmp_path, [[1, 1, 1], [1, 2, 1], [2, 0, 0], [1, 2, 0]])
    run = dltui("run", str(write_preset(raw)), "--runs-dir", str(tmp_path / "runs"))
    assert run.returncode == 2
    line = run.stderr.strip()
    assert "\n" not in line and line.startswith("dltui: error: train.loss:")
    assert "10 of 40 ctc target(s) need more than the model's 3 output timesteps" in line
    assert "1 1 1" in line and "train.ctc_unalignable = 'skip'" in line
    skipped = preset(raw, train={"ctc_unalignable": "skip"})
    done = dltui("run", str(write_preset(skipped)), "--json", "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    events = [json.loads(x) for x in done.stdout.splitlines()]
    warned = [e for e in events if e["event"] == "notice" and e["code"] == "ctc-unalignable"]
    assert len(warned) == 1 and "left out" in warned[0]["message"]
    started = next(e for e in events if e["event"] == "run_started")
    assert started["data"].startswith("30 samples")
