"""`python -m bench.stack_width [--repeats 3] [--widths 16,64,256,1024]`: K=4 folds of the
diabetes K-fold workload (10-w-w-1, batch 16) at several widths w: the hand loop (folds one after
another, at the engine's thread count), the experts' stacked peers (bmm + autograd; torch.func +
vmap), the engine with folds one after another, with folds stacked, and as its plan chooses. The
epochs shrink as the width grows so each way takes seconds. Interleaved repeats; medians."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.experts import train_bmm, train_vmap
from bench.reference import train
from bench.workloads import mlp, reference_tasks
from dltui.engine import Experiment, load_preset, prepare
from dltui.engine.spec import Preset
from dltui.engine.stacking import folds as stacking_folds
from dltui.engine.train.threads import choose_threads

EPOCHS = {16: 100, 64: 100, 256: 40, 1024: 8}


def prepared(width: int, epochs: int, parallel: bool):
    spec, path = load_preset("kfold-diabetes", ["validation.final_fit=false",
                                                "validation.test_fraction=0", f"train.epochs={epochs}",
                                                f"validation.parallel_folds={str(parallel).lower()}"])
    data = spec.model_dump()
    for layer in data["model"]["layers"][:-1]:
        layer["units"] = width
    return prepare(Preset.model_validate(data), path.parent)


def bench_width(width: int, repeats: int, runs: Path) -> int:
    epochs = EPOCHS.get(width, 20)
    seq, par = prepared(width, epochs, False), prepared(width, epochs, True)
    tasks = reference_tasks(seq, mlp(10, width, width, 1))
    threads = choose_threads(None, seq.macs * seq.preset.train.batch_size * 4, seq.device).threads
    chosen = Experiment(par, runs)
    chosen.groups, chosen.reason = stacking_folds.plan_groups(par, chosen.setup)
    plan = "stacked" if chosen.reason is None else f"one after another ({chosen.reason})"
    real_cost = stacking_folds.slower_stacked

    def forced() -> float:  # stacked whatever the cost model says
        stacking_folds.slower_stacked = lambda prep, batch, k: None
        try:
            return Experiment(par, runs).run()["kfold"]["mean"]["last"]["mae"]
        finally:
            stacking_folds.slower_stacked = real_cost

    ways: dict[str, Callable[[], object]] = {
        "hand loop": lambda: [train(t) for t in tasks],
        "expert: bmm + autograd": lambda: train_bmm(tasks, width),
        "expert: torch.func + vmap": lambda: train_vmap(tasks, width),
        "engine, one after another": lambda: Experiment(seq, runs).run(),
        "engine, stacked": forced,
        "engine, as planned": lambda: Experiment(par, runs).run(),
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    default = torch.get_num_threads()
    for _ in range(repeats):
        for label, fn in ways.items():
            torch.set_num_threads(threads)  # the engine sets its own; the peers run at it
            t = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t)
    torch.set_num_threads(default)
    hand = statistics.median(times["hand loop"])
    for label, ts in times.items():
        mid = statistics.median(ts)
        print(f"| {width} | {epochs} | {label} | {mid:.3f} | {min(ts):.3f} | {mid / hand:.2f} | "
              f"{plan if label == 'engine, as planned' else ''} |")
    return threads


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.stack_width")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--widths", default="16,64,256,1024")
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="dltui-bench-"))
    print("| width | epochs | way | median s | min s | vs hand loop | chosen |")
    print("|---|---|---|---|---|---|---|")
    for width in map(int, args.widths.split(",")):
        threads = bench_width(width, args.repeats, runs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; threads {threads}")


if __name__ == "__main__":
    main()
