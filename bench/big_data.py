"""`python -m bench.big_data [--samples 200000] [--repeats 3]`: a big array workload start to
finish, time and peak memory, the engine against a hand-written loop, each run in its own
process (so each peak RSS is its own) and the two interleaved.

The data: an NPZ of N 28x28 single-channel images as float32 (200k: 627 MB), 10 classes. The model:
Flatten -> Dense 128 relu -> Dense 10, rmsprop, batch 256, 2 epochs, 20% hold-out. "Start to
finish" is from the NPZ on disk to the last validation score: loading, standardising (training
statistics), training and evaluating. Peak memory is reported above the process's baseline
(Python, torch and the code imported, nothing loaded) and as a multiple of the data's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EPOCHS, BATCH, LR = 2, 256, 1e-3


def make_npz(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = np.empty((n, 1, 28, 28), dtype=np.float32)
    centres = rng.normal(size=(10, 1, 28, 28)).astype(np.float32)
    for s in range(0, n, 20_000):  # class centre + noise, written in blocks
        yy = y[s:s + 20_000]
        x[s:s + 20_000] = centres[yy] + rng.normal(scale=2.0, size=(len(yy), 1, 28, 28))
    np.savez(path, x=x, y=y)


def peak_mb() -> float:
    """This process's own peak (VmHWM): getrusage's ru_maxrss survives exec and can report the
    forking parent's size."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def current_mb() -> float:
    """Resident memory now (not the peak: imports pass through higher transient peaks)."""
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def standardised_copy(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The plain way: statistics of the training rows (one channel), then a standardised copy."""
    mean = x[train].mean(dtype=np.float64)
    std = x[train].std(dtype=np.float64)
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)


def standardised_in_place(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """A careful hand: the statistics summed over blocks of training rows (no copy of them), then
    the array itself shifted and scaled."""
    total = squares = 0.0
    rows = np.sort(train)
    for s in range(0, len(rows), 8192):
        block = x[rows[s:s + 8192]].astype(np.float64)
        total += block.sum()
        squares += np.square(block).sum()
    count = len(rows) * x[0].size
    mean = total / count
    std = (squares / count - mean * mean) ** 0.5
    x -= np.float32(mean)
    x /= np.float32(std)
    return x


def hand(path: Path, in_place: bool = False) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(torch.get_num_threads())
    base = current_mb()
    t = time.perf_counter()
    with np.load(path) as f:
        x, y = f["x"], f["y"]
    n = len(x)
    perm = np.random.default_rng(0).permutation(n)
    val, train = perm[: n // 5], perm[n // 5:]
    xs = torch.from_numpy((standardised_in_place if in_place else standardised_copy)(x, train))
    del x
    yt = torch.from_numpy(y)
    tr, va = torch.from_numpy(train), torch.from_numpy(val)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=LR, alpha=0.9, eps=1e-7)
    gen = torch.Generator().manual_seed(0)
    acc = 0.0
    for _ in range(EPOCHS):
        order = tr[torch.randperm(len(tr), generator=gen)]
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            loss = F.cross_entropy(model(xs[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            hits = sum(int((model(xs[va[s:s + 4096]]).argmax(1) == yt[va[s:s + 4096]]).sum())
                       for s in range(0, len(va), 4096))
        acc = hits / len(va)
    return {"seconds": time.perf_counter() - t, "peak_mb": peak_mb() - base, "val_accuracy": acc}


def engine(path: Path) -> dict[str, float]:
    from dltui.engine import Experiment, prepare
    from dltui.engine.spec import Preset

    base = current_mb()
    t = time.perf_counter()
    preset = Preset.model_validate({
        "name": "big-images",
        "data": {"source": f"npz:{path}", "layout": "channels_first"},
        "model": {"layers": [{"type": "Flatten"},
                             {"type": "Dense", "units": 128, "activation": "relu"},
                             {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "train": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                  "epochs": EPOCHS, "batch_size": BATCH, "learning_rate": LR},
        "validation": {"val_fraction": 0.2}})
    with tempfile.TemporaryDirectory() as runs:
        summary = Experiment(prepare(preset), Path(runs)).run()
    return {"seconds": time.perf_counter() - t, "peak_mb": peak_mb() - base,
            "val_accuracy": summary["folds"][0]["last"]["accuracy"]}


def child(which: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.big_data", "--child", which, str(path)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.big_data")
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("WHICH", "NPZ"))
    args = ap.parse_args()
    if args.child:
        import torch  # noqa: F401

        import dltui.engine  # noqa: F401  (both children import the same code before measuring)

        which, npz = args.child[0], Path(args.child[1])
        result = engine(npz) if which == "engine" else hand(npz, in_place=which == "in-place")
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npz"
        make_npz(path, args.samples)
        data_mb = args.samples * 784 * 4 / 2**20
        runs: dict[str, list[dict[str, float]]] = {"hand": [], "in-place": [], "engine": []}
        for _ in range(args.repeats):  # interleaved: a noisy machine hurts both alike
            for which in runs:
                runs[which].append(child(which, path))
    print(f"{args.samples:,} images, {data_mb:.0f} MB as float32; {args.repeats} interleaved repeats")
    ref = statistics.median(r["seconds"] for r in runs["hand"])
    print("| way | median s | min s | ratio (median) | peak MB above baseline | x data | val accuracy |")
    print("|---|---|---|---|---|---|---|")
    for which, label in (("hand", "hand loop, standardised copy"),
                         ("in-place", "hand loop, standardised in place"),
                         ("engine", "engine (API)")):
        rs = runs[which]
        med = statistics.median(r["seconds"] for r in rs)
        peak = max(r["peak_mb"] for r in rs)
        print(f"| {label} | {med:.2f} | {min(r['seconds'] for r in rs):.2f} | {med / ref:.3f} | "
              f"{peak:.0f} | {peak / data_mb:.2f} | {rs[-1]['val_accuracy']:.4f} |")


if __name__ == "__main__":
    main()
