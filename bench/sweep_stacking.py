"""`python -m bench.sweep_stacking [--repeats 3]`: a sweep of 8 variants (4 learning rates x 2 L2
factors) x K=4 folds on the Boston-recipe workload (diabetes, 64-64-1, batch 16, 100 epochs),
trained three ways in one process, interleaved: every training one after another, each variant's
folds stacked (variants one after another), and all 32 trainings stacked as one model. Prints a
markdown table; the ratios are against the fully sequential time."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dltui.engine.events import StopToken
from dltui.engine.presets import find_preset, parse_toml
from dltui.engine.sweeps.plan import plan_sweep
from dltui.engine.sweeps.runner import SweepRunner

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so a noisy neighbour hits every way alike
            for way, (folds, variants) in WAYS.items():
                seconds, best[way] = sweep_seconds(folds, variants, Path(tmp))
                times[way].append(seconds)
    base = statistics.median(times["one training after another"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 8 variants x K=4, "
          f"100 epochs, median and min of {args.repeats} interleaved repeats\n")
    print("| way | median s | min s | speed-up (median) | best val mae |")
    print("|---|---|---|---|---|")
    for way in WAYS:
        med = statistics.median(times[way])
        print(f"| {way} | {med:.2f} | {min(times[way]):.2f} | {base / med:.2f}x | {best[way]:.3f} |")


if __name__ == "__main__":
    main()
