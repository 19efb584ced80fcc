"""Learning-rate schedules: equal to torch.optim.lr_scheduler's (Keras's ReduceLROnPlateau for
the plateau rule), per model when folds are stacked, in the events, refused in one line when
mis-set."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import REGRESSION, cli, preset
from dltui.engine import EventBus, Experiment, prepare
from dltui.engine.events import EpochEnded
from dltui.engine.spec import LRSchedule, Preset
from dltui.engine.train.schedules import Schedule

EPOCHS = 30


def torch_rates(make, losses=None) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = make(opt)
    out = []
    for epoch in range(EPOCHS):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(losses[epoch]) if losses is not None else sched.step()
    return out


def ours(spec: dict, losses=None) -> list[float]:
    s = Schedule(LRSchedule.model_validate(spec), 0.1, EPOCHS)
    out = []
    for epoch in range(1, EPOCHS + 1):
        out.append(s.lr)
        s.after(epoch, losses[epoch - 1] if losses is not None else math.nan)
    return out


@pytest.mark.parametrize("spec,make", [
    ({"kind": "step", "step_size": 7, "gamma": 0.5},
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    ({"kind": "exponential", "gamma": 0.9},
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ({"kind": "cosine", "min_lr": 0.001},
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.001)),
])
def test_epoch_schedules_equal_torchs(spec, make):
    assert ours(spec) == pytest.approx(torch_rates(make), rel=1e-9, abs=1e-12)


def test_cosine_warms_up_linearly_then_anneals_as_torch_does():
    warm = ours({"kind": "cosine", "warmup": 5})
    assert warm[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    rest = torch.optim.lr_scheduler.CosineAnnealingLR
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = rest(opt, T_max=EPOCHS - 5)
    expected = []
    for _ in range(EPOCHS - 5):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert warm[5:] == pytest.approx(expected, rel=1e-9)


def test_reduce_on_plateau_is_keras_rule_and_torchs_with_one_less_patience():
    losses = [1.0, 0.9, 0.85, 0.85, 0.86, 0.87, 0.84, 0.84, 0.84, 0.84, 0.84, 0.7, *[0.7] * 18]
    mine = ours({"kind": "reduce_on_plateau", "patience": 3, "factor": 0.5, "min_delta": 0.001,
                 "min_lr": 0.01}, losses)
    theirs = torch_rates(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="min", factor=0.5, patience=2, threshold=0.001, threshold_mode="abs",
        min_lr=0.01), losses)
    assert mine == pytest.approx(theirs)
    assert min(mine) == 0.01 and mine[0] == 0.1  # 0.1, 0.05, 0.025, 0.0125, then the floor


def lrs(raw: dict, tmp_path) -> dict[tuple[int, int], list[float]]:
    bus, events = EventBus(), []
    bus.subscribe(lambda e: events.append(e) if isinstance(e, EpochEnded) else None)
    Experiment(prepare(Preset.model_validate(raw)), tmp_path, bus).run()
    out: dict[tuple[int, int], list[float]] = {}
    for e in events:
        out.setdefault((e.repeat, e.fold), []).append(e.lr)
    return out


def test_each_stacked_fold_keeps_its_own_schedule_equal_to_sequential(tmp_path):
    raw = preset(REGRESSION, train={"epochs": 12, "learning_rate": 0.05, "lr_schedule": {
        "kind": "reduce_on_plateau", "patience": 2, "factor": 0.5, "min_delta": 1e6}},
        validation={"scheme": "kfold", "k": 3})
    stacked = lrs(raw, tmp_path / "a")
    alone = lrs(preset(raw, validation={"parallel_folds": False}), tmp_path / "b")
    assert stacked.keys() == alone.keys() and len(stacked) == 3
    for key in stacked:
        assert stacked[key] == pytest.approx(alone[key], rel=1e-6), key
    assert any(len(set(v)) > 1 for v in stacked.values())  # the rate did move


def test_a_step_schedule_reaches_the_run_folder(tmp_path):
    raw = preset(REGRESSION, train={"epochs": 6, "learning_rate": 0.01,
                                    "lr_schedule": {"kind": "step", "step_size": 2}})
    experiment = Experiment(prepare(Preset.model_validate(raw)), tmp_path)
    experiment.run()
    epochs = [json.loads(line) for line in (experiment.run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [e["lr"] for e in epochs if e["event"] == "epoch" and e["fold"] == 0]
    assert rates == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])


@pytest.mark.parametrize("schedule,said", [
    ({"kind": "step", "patience": 3}, "patience: not a setting of the step schedule"),
    ({"kind": "warm"}, "lr_schedule.kind"),
    ({"kind": "exponential", "gamma": 2}, "gamma"),
])
def test_a_mis_set_schedule_is_one_line(tmp_path, schedule, said):
    import tomli_w

    (tmp_path / "p.toml").write_text(tomli_w.dumps(preset(REGRESSION, train={"lr_schedule": schedule})))
    code, _, err = cli("run", str(tmp_path / "p.toml"), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and said in err and err.strip().count("\n") == 0, err


def test_the_live_header_shows_the_rate_the_schedule_moved_to():
    from dltui.engine.events import RunStarted
    from dltui.tui.run_state import RunState

    state = RunState()
    state.apply(RunStarted("/r", "p", "holdout", 1, 4, "cpu", "d", "regression", 10, ["mae"], "",
                           learning_rate=0.01))
    assert "lr 0.01" in state.progress_text()
    state.apply(EpochEnded(0, 0, 1, 4, {"loss": 1.0}, {"loss": 1.0}, 0.1, 10.0, 0.001))
    assert "lr 0.001" in state.progress_text() and "lr 0.01 " not in state.progress_text()
