"""`python -m bench.sweep_stacking [--repeats 3]`: a sweep of 8 variants (4 learning rates x 2 L2
factors) x K=4 folds on the diabetes K-fold workload (the book's Boston recipe on the diabetes
set: 64-64-1, batch 16, 100 epochs), trained three ways in one process, interleaved: every
training one after another, each variant's folds stacked (variants one after another), and all
32 trainings stacked as one model; beside them the experts' stacked peers of bench/experts.py
(bmm + autograd; torch.func + vmap), each training the same 32 members (the 4 folds x the 8
variants' learning rates and L2 factors) at once. Prints a markdown table; the ratios are against
the fully sequential time."""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.experts import train_bmm, train_vmap
from bench.workloads import mlp, reference_tasks
from dltui.engine import load_preset, prepare
from dltui.engine.events import StopToken
from dltui.engine.presets import find_preset, parse_toml
from dltui.engine.sweeps.plan import plan_sweep
from dltui.engine.sweeps.runner import SweepRunner
from dltui.engine.train.threads import choose_threads

VARY = {"train.learning_rate": [1e-3, 3e-3, 1e-2, 3e-2], "model.layers[0].l2": [0.0, 1e-3]}
WAYS = {
    "one training after another": (False, False),
    "variants one after another, folds stacked": (True, False),
    "all variants and folds stacked": (True, True),
}


def sweep_seconds(parallel_folds: bool, stack_variants: bool, root: Path) -> tuple[float, float]:
    path = find_preset("kfold-diabetes")
    raw = parse_toml(path.read_text(), str(path))
    raw["name"] = "bench"
    raw["train"].update({"epochs": 100, "device": "cpu"})
    raw["validation"].update({"final_fit": False, "parallel_folds": parallel_folds,
                              "test_fraction": 0.0})
    plan = plan_sweep(raw, "bench", VARY)
    runner = SweepRunner(plan, Path(tempfile.mkdtemp(dir=root)), path.parent, "cpu",
                         lambda _e: None, StopToken(), stack_variants=stack_variants)
    preps = runner.prepare_all()
    start = time.perf_counter()
    result = runner.run(preps)
    seconds = time.perf_counter() - start
    best = min(r["mean"] for r in result["ranking"] if r["mean"] is not None)
    return seconds, best


def expert_peers() -> tuple[dict[str, object], int]:
    """The 32 members the sweep trains, for the experts' scripts: the preset's 4 folds (the same
    splits, made with scikit-learn) under each variant's learning rate and L2 factor. The experts
    put the L2 term on every kernel where the sweep puts it on the first: the same arithmetic."""
    spec, path = load_preset("kfold-diabetes", ["validation.final_fit=false",
                                                "validation.test_fraction=0", "train.epochs=100"])
    prep = prepare(spec, path.parent)
    folds = reference_tasks(prep, mlp(10, 64, 64, 1))
    variants = list(itertools.product(VARY["train.learning_rate"], VARY["model.layers[0].l2"]))
    tasks = [fold for _ in variants for fold in folds]
    lrs = [lr for lr, _ in variants for _ in folds]
    l2s = [l2 for _, l2 in variants for _ in folds]
    # The thread count the engine takes for all 32 members stacked (its rule, measured now).
    threads = choose_threads(None, prep.macs * prep.preset.train.batch_size * len(tasks),
                             prep.device).threads
    return {"expert: bmm + autograd": lambda: train_bmm(tasks, 64, lrs, l2s),
            "expert: torch.func + vmap": lambda: train_vmap(tasks, 64, lrs, l2s)}, threads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    peers, threads = expert_peers()
    ways = [*WAYS, *peers]
    times: dict[str, list[float]] = {w: [] for w in ways}
    best: dict[str, float | None] = {}
    default = torch.get_num_threads()
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so a noisy neighbour hits every way alike
            for way in ways:
                if way in WAYS:  # the engine sets its own threads for each run
                    seconds, best[way] = sweep_seconds(*WAYS[way], Path(tmp))
                else:
                    torch.set_num_threads(threads)
                    start = time.perf_counter()
                    peers[way]()  # type: ignore[operator]
                    seconds, best[way] = time.perf_counter() - start, None
                times[way].append(seconds)
            loads.append(os.getloadavg()[0])
    torch.set_num_threads(default)
    base = statistics.median(times["one training after another"])
    print(f"torch {torch.__version__}; the experts at {threads} threads (the engine's choice for 32 "
          f"stacked members); 8 variants x K=4, 100 epochs, median and "
          f"min of {args.repeats} interleaved repeats; load average {min(loads):.2f}-"
          f"{max(loads):.2f}\n")
    print("| way | median s | min s | speed-up (median) | best val mae |")
    print("|---|---|---|---|---|")
    for way in ways:
        med = statistics.median(times[way])
        score = "" if best[way] is None else f"{best[way]:.3f}"
        print(f"| {way} | {med:.2f} | {min(times[way]):.2f} | {base / med:.2f}x | {score} |")


if __name__ == "__main__":
    main()
