"""The thread decision: from the step's size and the cores actually free, re-decided after a
first epoch that shows contention; never timed, the machine's state is simulated or made."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from conftest import BINARY, preset
from dltui.engine import EventBus, Experiment, prepare
from dltui.engine.events import Notice, RunStarted
from dltui.engine.spec import Preset
from dltui.engine.train import threads as th

CPU = torch.device("cpu")
BIG = 30_000_000  # multiply-adds per batch: past the one-thread threshold


def test_small_steps_take_one_thread_whatever_is_free():
    choice = th.choose_threads(None, 300_000, CPU, available=8, free=8.0)
    assert choice.threads == 1 and choice.why.startswith("small steps: 0.3M")


def test_big_steps_take_the_free_cores_and_say_so():
    idle = th.choose_threads(None, BIG, CPU, available=2, free=1.97)
    assert idle.threads == 2 and idle.why == "30M multiply-adds per batch, 2.0 of 2 cores free"
    neighbour = th.choose_threads(None, BIG, CPU, available=2, free=1.02)  # one core busy
    assert neighbour.threads == 1
    assert neighbour.why == "30M multiply-adds per batch, but only 1.0 of 2 cores free (busy neighbours)"
    assert th.choose_threads(None, BIG, CPU, available=16, free=5.6).threads == 5
    assert th.choose_threads(None, BIG, CPU, available=4, free=0.0).threads == 1


def test_asked_for_threads_and_the_gpu_are_not_second_guessed():
    assert th.choose_threads(3, BIG, CPU, available=2, free=0.0) == th.ThreadChoice(3, "train.threads")
    assert th.choose_threads(None, BIG, torch.device("cuda"), available=2, free=0.0).threads == 2


def test_a_first_epoch_that_got_too_little_cpu_lowers_the_count():
    check = th.ContentionCheck(2, cpu=10.0, wall=100.0)
    lower = check.after_first_epoch(cpu=11.1, wall=101.0)  # 1.1 cores' worth for 2 threads
    assert lower is not None and lower.threads == 1
    assert "got 1.1 cores' worth of CPU time for 2 threads" in lower.why
    assert check.after_first_epoch(cpu=11.1, wall=101.0) is None  # decided once
    assert th.ContentionCheck(2, cpu=0, wall=0).after_first_epoch(cpu=1.9, wall=1.0) is None
    assert th.ContentionCheck(4, cpu=0, wall=0).after_first_epoch(cpu=2.9, wall=1.0).threads == 3
    assert th.ContentionCheck(2, cpu=0, wall=0).after_first_epoch(cpu=0.0, wall=0.1) is None  # too short
    assert th.ContentionCheck(1, cpu=0, wall=0).after_first_epoch(cpu=0.0, wall=9.0) is None


def test_busy_neighbours_are_seen_in_the_kernels_counters():
    """Real neighbours: one busy loop per usable core leaves none free, so a big step gets one
    thread (the processes are this test's own, stopped by their ids)."""
    cores = th.usable_cores()
    if cores < 2:
        pytest.skip("one core: nothing to decide")
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        free = th.free_cores(0.3)
        assert free is not None and free < 0.7 * cores, free
        choice = th.choose_threads(None, BIG, CPU)
        assert choice.threads < cores and "busy neighbours" in choice.why
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_a_run_lowers_its_threads_after_a_contended_first_epoch(tmp_path, monkeypatch):
    """A run whose big steps start on 2 free cores, then finds its first epoch got no CPU time
    (a neighbour took the cores): it says so once and trains on with one thread."""
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    monkeypatch.setattr(th, "free_cores", lambda sample_s=0.04: 2.0)
    monkeypatch.setattr(th, "_cpu_clock", lambda: 0.0)
    ticks = iter(range(0, 10_000_000))
    monkeypatch.setattr(th, "_wall_clock", lambda: float(next(ticks)))
    wide = preset(BINARY, model={"layers": [{"type": "Dense", "units": 4096, "activation": "relu"},
                                            {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                  train={"epochs": 2, "batch_size": 64})
    bus, seen, during = EventBus(), [], []
    bus.subscribe(seen.append)
    bus.subscribe(lambda e: during.append(torch.get_num_threads()) if e.kind == "epoch" else None)
    before = torch.get_num_threads()
    Experiment(prepare(Preset.model_validate(wide)), tmp_path, bus).run()
    started = next(e for e in seen if isinstance(e, RunStarted))
    assert started.threads == 2 and "2.0 of 2 cores free" in started.threads_why
    notices = [e.message for e in seen if isinstance(e, Notice) and e.code == "threads"]
    assert len(notices) == 1 and notices[0].startswith("1 thread from now on: the first epoch got 0.0")
    assert during[-1] == 1
    assert torch.get_num_threads() == before  # put back when the run ends
    events = [json.loads(x) for x in (next(tmp_path.iterdir()) / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("code") == "threads" for e in events)  # the run folder keeps the decision


def test_the_thread_count_does_not_change_the_numbers():
    """Why adapting the count is safe for reproducibility: a big matmul step's outputs and
    gradients are bit-for-bit the same at one and two threads."""
    before = torch.get_num_threads()
    torch.manual_seed(0)
    x, w = torch.randn(256, 784), torch.randn(784, 512, requires_grad=True)
    got = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            y = (x @ w).relu()
            (grad,) = torch.autograd.grad(y.square().mean(), w)
            got.append((y.detach(), grad))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])
