"""The model doctor: each check has a preset that triggers it and one that does not; each curve
diagnosis a synthetic history that triggers it and one that does not; fixes clear their finding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import BINARY, REGRESSION, dltui, preset
from dltui.engine.data.dataset import load_data
from dltui.engine.doctor.curves import advice, diagnose
from dltui.engine.doctor.examine import apply_fix, examine
from dltui.engine.presets import load_preset, shipped_presets
from dltui.engine.spec import Preset

MULTI = preset(BINARY, data={"source": "builtin:digits"},
               model={"layers": [{"type": "Dense", "units": 32, "activation": "relu"},
                                 {"type": "Dense", "units": 10, "activation": "softmax"}]},
               train={"loss": "sparse_categorical_crossentropy"})


def ids(raw: dict, base_dir=None) -> dict[str, object]:
    spec = Preset.model_validate(raw)
    return {f.id: f for f in examine(spec, load_data(spec.data, base_dir))}


def layers(*specs: dict) -> dict:
    return {"layers": list(specs)}


DENSE = {"type": "Dense", "units": 16, "activation": "relu"}

CASES = [
    # (finding id, a preset that triggers it, a close one that does not)
    ("output-loss", preset(BINARY, train={"loss": "mse"}), BINARY),
    ("output-loss", preset(BINARY, model=layers(DENSE, {"type": "Dense", "units": 1})), BINARY),
    ("label-encoding", preset(MULTI, train={"loss": "categorical_crossentropy"}), MULTI),
    ("bounded-output", preset(REGRESSION, model=layers(DENSE, {"type": "Dense", "units": 1,
                                                               "activation": "sigmoid"})), REGRESSION),
    ("linear-stack", preset(BINARY, model=layers({"type": "Dense", "units": 16},
                                                 {"type": "Dropout", "rate": 0.1},
                                                 {"type": "Dense", "units": 1, "activation": "sigmoid"})),
     BINARY),
    ("bottleneck", preset(MULTI, model=layers({"type": "Dense", "units": 4, "activation": "relu"},
                                              {"type": "Dense", "units": 10, "activation": "softmax"})),
     MULTI),
    ("small-data", BINARY, preset(BINARY, validation={"scheme": "kfold"})),
    ("big-network", preset(BINARY, model=layers({"type": "Dense", "units": 512, "activation": "relu"},
                                                {"type": "Dense", "units": 1, "activation": "sigmoid"})),
     BINARY),
    ("feature-scales", preset(BINARY, data={"normalize": False}), BINARY),
    ("time-shuffle", preset(REGRESSION, data={"source": "builtin:sine", "samples": 200, "timesteps": 8},
                            model=layers({"type": "Flatten"}, {"type": "Dense", "units": 1}),
                            validation={"scheme": "holdout", "shuffle": True}),
     preset(REGRESSION, data={"source": "builtin:sine", "samples": 200, "timesteps": 8},
            model=layers({"type": "Flatten"}, {"type": "Dense", "units": 1}),
            validation={"scheme": "holdout"})),
    ("tiny-validation", preset(BINARY, validation={"val_fraction": 0.01}), BINARY),
    ("learning-rate", preset(BINARY, train={"learning_rate": 0.5}), BINARY),
    ("learning-rate", preset(BINARY, train={"learning_rate": 1e-7}), BINARY),
]


@pytest.mark.parametrize(("code", "bad", "good"), CASES, ids=[c[0] for c in CASES])
def test_each_check_fires_on_its_case_and_not_on_a_close_one(code, bad, good):
    found = ids(bad)
    assert code in found, list(found)
    assert code not in ids(good)


@pytest.mark.parametrize(("code", "bad", "_good"), [c for c in CASES if c[0] not in
                                                     ("big-network", "tiny-validation")],
                         ids=[c[0] for c in CASES if c[0] not in ("big-network", "tiny-validation")])
def test_each_fix_clears_its_finding(code, bad, _good):
    found = ids(bad)[code]
    assert found.fix, f"{code} has no fix"
    assert code not in ids(apply_fix(bad, found.fix))


def test_duplicates_across_the_data_are_found(tmp_path):
    rows = "".join(f"{i % 10},{i % 3},{i % 2}\n" for i in range(120))  # 30 distinct rows
    (tmp_path / "d.csv").write_text("a,b,y\n" + rows)
    raw = preset(BINARY, data={"source": f"csv:{tmp_path / 'd.csv'}"})
    assert "duplicates" in ids(raw)
    assert "duplicates" not in ids(preset(raw, validation={"dedupe": True}))


def test_dltui_check_reports_nothing_above_hint_on_shipped_presets():
    """The book presets' data is downloaded on first use: test_book_datasets prepares them on
    files in the real formats from its loopback server."""
    for name in sorted(shipped_presets()):
        if name.startswith("book-"):
            continue
        spec, path = load_preset(name)
        worst = [f for f in examine(spec, load_data(spec.data, path.parent)) if f.severity != "hint"]
        assert not worst, (name, worst)


def test_check_command_groups_by_severity_and_exits_1_on_errors(write_preset):
    ok = dltui("check", str(write_preset(BINARY)))
    assert ok.returncode == 0 and "hints (1)" in ok.stdout and "small-data" in ok.stdout
    bad = dltui("check", str(write_preset(preset(BINARY, train={"loss": "mse"}))), "--json")
    assert bad.returncode == 1
    found = json.loads(bad.stdout)
    assert found[0]["id"] == "output-loss" and found[0]["fix"]["train.loss"] == "binary_crossentropy"
    assert found[0]["why"]


def history(train: list[float], val: list[float], acc: list[float] | None = None):
    out = []
    for i, (t, v) in enumerate(zip(train, val, strict=True)):
        va = {"loss": v}
        if acc:
            va["accuracy"] = acc[i]
        out.append(({"loss": t}, va))
    return out


def codes(h, **kw) -> dict[str, int]:
    return {f.id: f.epoch for f in diagnose(h, 1e-3, **kw)}


def test_overfitting_is_dated_to_the_epoch_after_the_best():
    falling = [1.0 / e for e in range(1, 13)]
    val = [1.0, 0.6, 0.5, 0.45, 0.47, 0.5, 0.55, 0.6, 0.66, 0.7, 0.8, 0.9]
    assert codes(history(falling, val)) == {"overfitting": 5}
    assert "overfitting" not in codes(history(falling, [0.9 / e for e in range(1, 13)]))


def test_exploding_or_oscillating_loss_is_instability_not_overfitting():
    explosive = history([95000, 1900, 460, 25, 0.4, 0.2, 0.39, 0.35],
                        [2595, 1979, 132, 269, 269, 269, 269, 270])
    found = codes(explosive, chance_loss=math.log(2))
    assert "instability" in found and "overfitting" not in found
    oscillating = history([0.7, 0.3, 0.9, 0.2, 1.1], [0.7, 0.4, 0.8, 0.3, 1.0])
    assert codes(oscillating)["instability"] == 3
    calm = history([0.7, 0.5, 0.4, 0.35, 0.3], [0.7, 0.55, 0.45, 0.4, 0.38])
    assert "instability" not in codes(calm, chance_loss=math.log(2))


def test_a_flat_high_training_loss_is_underfitting():
    flat = history([0.69, 0.69, 0.689, 0.69, 0.688, 0.689], [0.69] * 6)
    assert codes(flat, chance_loss=math.log(2)) == {"underfitting": 5}
    learning = history([0.69, 0.6, 0.5, 0.45, 0.4, 0.38], [0.69, 0.6, 0.52, 0.47, 0.44, 0.42])
    assert "underfitting" not in codes(learning, chance_loss=math.log(2))


def test_chance_level_accuracy_is_no_learning():
    train = [0.7, 0.65, 0.6, 0.58, 0.56, 0.55]
    stuck = history(train, train, [0.62, 0.63, 0.62, 0.62, 0.63, 0.62])
    assert "no-learning" in codes(stuck, chance_accuracy=0.627)
    learning = history(train, train, [0.62, 0.7, 0.8, 0.85, 0.9, 0.92])
    assert "no-learning" not in codes(learning, chance_accuracy=0.627)


def test_advice_names_the_epochs_and_the_next_experiment():
    said = advice({"averaged_curve": {"best_epoch": 37}}, {"overfitting"})
    assert said["epochs"] == 37 and "Dropout" in said["next"]
    assert "learning_rate" in advice({"best_epoch": 3}, {"instability"})["next"]
    assert "bigger" in advice({"best_epoch": 30}, set())["next"]


def test_a_run_ends_with_the_doctors_advice_and_marks_its_diagnoses(tmp_path, write_preset):
    p = write_preset(preset(BINARY, train={"epochs": 40, "learning_rate": 0.01}))
    result = dltui("run", str(p), "--json", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    overfit = [e for e in events if e["event"] == "notice" and e["code"] == "overfitting"]
    assert len(overfit) == 1 and overfit[0]["epoch"] > 1
    summary = events[-1]["summary"]
    assert summary["advice"]["epochs"] == summary["best_epoch"]
    assert "overfitting" in summary["advice"]["diagnoses"]


async def test_the_app_shows_a_finding_and_applies_its_fix_by_key(tmp_path):
    from textual.widgets import Select, Static

    from dltui.tui.app import DltuiApp

    app = DltuiApp(preset="binary-breast-cancer", runs_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        build = app.screen
        for _ in range(100):
            if build.data is not None:
                break
            await pilot.pause(0.1)
        build.query_one("#train-loss", Select).value = "mse"
        await pilot.pause(0.3)
        assert build.raw["train"]["loss"] == "mse"
        assert [f.id for f in build.findings if f.severity == "error"] == ["output-loss"]
        assert build.query_one("#train-loss").has_class("flagged-error")
        assert "output-loss" not in str(build.query_one("#status", Static).render())
        assert "mse does not fit a binary target" in str(build.query_one("#status", Static).render())
        await pilot.press("ctrl+f")
        await pilot.pause(0.3)
        assert build.raw["train"]["loss"] == "binary_crossentropy"
        assert not [f for f in build.findings if f.severity == "error"]
        assert not build.query_one("#train-loss").has_class("flagged-error")
        assert "ready" in str(build.query_one("#status", Static).render())
        assert np.isfinite(len(build.findings))
