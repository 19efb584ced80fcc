"""`python -m bench.step_floor [--repeats 5] [--compiled]`: how far the stacked K-fold run
(diabetes, K=4, 10-64-64-1, batch 16, 100 epochs, 1 thread: the engine's choice at these shapes)
is from the arithmetic it cannot avoid.

The floor: every matrix product one training step needs (each layer's forward, its weight
gradient, and the input gradient of every layer after the first), each timed alone at its exact
shape as one `torch.bmm` over the K members into a preallocated output, summed over the run's
steps, plus the validation forwards of every epoch. Beside it: the multiply rate those shapes
reach against torch's best at a large batch, the engine's stacked run, and the expert's stacked
script (bench/experts.py, bmm + autograd). `--compiled` adds the expert's step through
`torch.compile` (inductor), with its compile time shown apart from its step time.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.experts import train_bmm
from bench.workloads import mlp, reference_tasks
from dltui.engine import Experiment, load_preset, prepare

SIZES = [10, 64, 64, 1]
OVERRIDES = ["validation.final_fit=false", "validation.test_fraction=0", "train.epochs=100",
             "validation.parallel_folds=true"]


def gemms(sizes: list[int], rows: int, backward: bool = True) -> list[tuple[int, int, int]]:
    """(m, inner, n) of each member's products in one step over `rows` samples."""
    pairs = list(itertools.pairwise(sizes))
    shapes = [(rows, a, b) for a, b in pairs]  # forward
    if backward:
        shapes += [(a, rows, b) for a, b in pairs]  # weight gradients
        shapes += [(rows, b, a) for a, b in pairs[1:]]  # input gradients (not of the data)
    return shapes


def flops(shapes: list[tuple[int, int, int]], k: int) -> int:
    return sum(2 * m * inner * n for m, inner, n in shapes) * k


def product_seconds(shapes: list[tuple[int, int, int]], k: int, reps: int) -> float:
    """Seconds for one pass over `shapes`, each product alone, best of three timings."""
    args = [(torch.randn(k, m, inner), torch.randn(k, inner, n), torch.empty(k, m, n))
            for m, inner, n in shapes]
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            for a, b, out in args:
                torch.bmm(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def compiled_step_seconds(k: int, batch: int, steps: int) -> tuple[float, float]:
    """The expert's whole step (forward, autograd backward, RMSprop) under torch.compile:
    (compile seconds, seconds per step afterwards)."""
    params = [torch.randn(k, a, b, requires_grad=True) for a, b in itertools.pairwise(SIZES)]
    squares = [torch.zeros_like(p) for p in params]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        h = x
        for i, w in enumerate(params):
            h = torch.bmm(h, w)
            h = h.relu() if i < len(params) - 1 else h
        loss = (h - y).square().mean(dim=(1, 2)).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, s, g in zip(params, squares, grads, strict=True):
                s.mul_(0.9).addcmul_(g, g, value=0.1)
                p.sub_(0.01 * g / (s.sqrt() + 1e-7))

    fn = torch.compile(step)
    x, y = torch.randn(k, batch, SIZES[0]), torch.randn(k, batch, 1)
    start = time.perf_counter()
    fn(x, y)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        fn(x, y)
    return compile_s, (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.step_floor")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compiled", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec, path = load_preset("kfold-diabetes", OVERRIDES)
    prep = prepare(spec, path.parent)
    splits = prep.plan.splits
    k, batch, epochs = len(splits), prep.preset.train.batch_size, prep.preset.train.epochs
    n = max(len(s.train_idx) for s in splits)
    n_val = max(len(s.val_idx) for s in splits)
    full, last = divmod(n, batch)
    steps = epochs * (full + (last > 0))
    step_shapes = gemms(SIZES, batch)
    train_flops = epochs * (full * flops(step_shapes, k)
                            + (flops(gemms(SIZES, last), k) if last else 0))
    val_flops = epochs * flops(gemms(SIZES, n_val, backward=False), k)

    floor_step = product_seconds(step_shapes, k, 2000)
    floor_val = product_seconds(gemms(SIZES, n_val, backward=False), k, 500)
    floor = epochs * full * floor_step + epochs * floor_val
    if last:
        floor += epochs * product_seconds(gemms(SIZES, last), k, 2000)
    peak_shapes = gemms(SIZES[1:3], 4096)  # the widest layer at a large batch
    peak = flops(peak_shapes, k) / product_seconds(peak_shapes, k, 20)

    tasks = reference_tasks(prep, mlp(*SIZES))
    times: dict[str, list[float]] = {"engine, stacked": [], "expert: bmm + autograd": []}
    loads = []
    with tempfile.TemporaryDirectory() as runs:
        Experiment(prep, Path(runs)).run()  # warm-up: first-use allocations
        for _ in range(args.repeats):
            start = time.perf_counter()
            Experiment(prep, Path(runs)).run()
            times["engine, stacked"].append(time.perf_counter() - start)
            torch.set_num_threads(1)  # the engine puts back what it found; the same here
            start = time.perf_counter()
            train_bmm(tasks, 64)
            times["expert: bmm + autograd"].append(time.perf_counter() - start)
            loads.append(os.getloadavg()[0])

    total = train_flops + val_flops
    print(f"torch {torch.__version__}, 1 thread; K={k}, batch {batch}, {epochs} epochs, {steps} "
          f"steps; {args.repeats} interleaved repeats, load average {min(loads):.2f}-"
          f"{max(loads):.2f}\n")
    print(f"arithmetic: {train_flops / 1e9:.2f} GFLOP training ({flops(step_shapes, k) / 1e6:.2f} "
          f"MFLOP a full step) + {val_flops / 1e9:.2f} GFLOP validation")
    print(f"1-thread bmm at a large batch (K x 4096 x 64 x 64): {peak / 1e9:.0f} GFLOP/s; "
          f"the step's own products alone: {flops(step_shapes, k) / floor_step / 1e9:.0f} GFLOP/s, "
          f"{floor_step * 1e6:.1f} us a step\n")
    print("| way | median s | min s | us a step | x floor |")
    print("|---|---|---|---|---|")
    print(f"| floor: the products alone at their shapes | {floor:.3f} | | "
          f"{floor / steps * 1e6:.1f} | 1.00 |")
    print(f"| floor at the large-batch rate | {total / peak:.3f} | | "
          f"{total / peak / steps * 1e6:.1f} | {total / peak / floor:.2f} |")
    for way, ts in times.items():
        med = statistics.median(ts)
        print(f"| {way} | {med:.3f} | {min(ts):.3f} | {med / steps * 1e6:.1f} | {med / floor:.2f} |")
    if args.compiled:
        compile_s, per_step = compiled_step_seconds(k, batch, 3000)
        print(f"| expert's step, torch.compile (inductor) | {per_step * steps:.3f} + compile "
              f"{compile_s:.1f} | | {per_step * 1e6:.1f} | {per_step * steps / floor:.2f} "
              f"(with compile {(per_step * steps + compile_s) / floor:.0f}) |")


if __name__ == "__main__":
    main()
