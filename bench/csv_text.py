"""`python -m bench.csv_text [--rows 1000000] [--repeats 3]`: a CSV with text columns (rows x 20
float columns, two text category columns with a few missing markers, a label) read into a float32
feature matrix: dltui's reader (every data rule) against pandas (`read_csv` + `get_dummies`), and
the whole run (`dltui run`, one epoch) against a hand-written script doing the same (import torch,
pandas read + one-hot, standardise, one epoch of the same MLP). Each in a fresh process,
interleaved; medians and minima."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READ = """
import json, sys, time
from pathlib import Path
which, path = sys.argv[1], Path(sys.argv[2])
import numpy as np
import pandas as pd
if which == "dltui":  # each reader's libraries imported before the clock starts
    import pyarrow.compute, pyarrow.csv  # noqa: F401, E401
    from dltui.engine.data.tables.encode import read_csv
def hwm():
    with open("/proc/self/status") as fh:
        return int(next(x for x in fh if x.startswith("VmHWM:")).split()[1])
base = hwm()
t = time.perf_counter()
if which == "pandas":
    frame = pd.get_dummies(pd.read_csv(path), columns=["city", "grade"], dtype=np.float32)
    x = frame.drop(columns="label").to_numpy(np.float32)
else:
    x = read_csv(path, "label", [], "zero").x
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": hwm() / 1024, "shape": list(x.shape)}))
"""

HAND = """
import sys, time
import numpy as np, pandas as pd, torch
torch.set_num_threads(1)
frame = pd.get_dummies(pd.read_csv(sys.argv[1]), columns=["city", "grade"], dtype=np.float32)
y = torch.from_numpy(frame.pop("label").to_numpy(np.float32))[:, None]
x = torch.from_numpy(frame.fillna(0).to_numpy(np.float32))
n = len(x); val = n // 5
perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
tr, va = perm[val:], perm[:val]
mean, std = x[tr].mean(0), x[tr].std(0).clamp_min(1e-7)
x = (x - mean) / std
model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, foreach=True)
loss_fn = torch.nn.BCEWithLogitsLoss()
order = tr[torch.randperm(len(tr))]
xs, ys = x[order], y[order]
for s in range(0, len(order), 512):
    opt.zero_grad(set_to_none=True)
    loss_fn(model(xs[s:s + 512]), ys[s:s + 512]).backward()
    opt.step()
with torch.no_grad():
    acc = ((model(x[va]) > 0).float() == y[va]).float().mean().item()
print(acc)
"""

PRESET = """
name = "bench-text"
[data]
source = "csv:{path}"
target = "label"
missing = "zero"
[model]
layers = [
  {{ type = "Dense", units = 16, activation = "relu" }},
  {{ type = "Dense", units = 1, activation = "sigmoid" }},
]
[train]
loss = "binary_crossentropy"
metrics = ["accuracy"]
epochs = 1
batch_size = 512
[validation]
scheme = "holdout"
val_fraction = 0.2
test_fraction = 0.0
"""


def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    cities = np.array(["Paris", "Lyon", "Nice", "Lille", "Brest", "Metz", "Caen", "Dijon"])
    grades = np.array(["A", "B", "C", "D", "NA"])  # NA: a missing marker
    with path.open("w") as fh:
        fh.write(",".join([f"f{i}" for i in range(20)] + ["city", "grade", "label"]) + "\n")
        for s in range(0, rows, 100_000):
            m = min(100_000, rows - s)
            block = rng.normal(size=(m, 20)).astype(np.float32)
            city = cities[rng.integers(0, len(cities), m)]
            grade = grades[rng.integers(0, len(grades), m)]
            label = ((block[:, 0] > 0) ^ (city == "Nice")).astype(int)
            text = np.char.add(np.char.add(city, ","), grade)
            body = np.column_stack([np.char.mod("%.6g", block), text, label.astype(str)])
            fh.write("\n".join(",".join(r) for r in body) + "\n")


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.csv_text")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        path = tmpdir / "text.csv"
        write_csv(path, args.rows)
        (tmpdir / "bench-text.toml").write_text(PRESET.format(path=path))
        reads: dict[str, list[dict]] = {"pandas": [], "dltui": []}
        whole: dict[str, list[float]] = {"import torch": [], "hand": [], "dltui run": []}
        loads = []
        for _ in range(args.repeats):
            for which in reads:
                out = subprocess.run([sys.executable, "-c", READ, which, str(path)],
                                     capture_output=True, text=True, check=True)
                reads[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
            whole["import torch"].append(timed([sys.executable, "-c", "import torch"], tmpdir))
            whole["hand"].append(timed([sys.executable, "-c", HAND, str(path)], tmpdir))
            whole["dltui run"].append(timed([sys.executable, "-m", "dltui.tui", "run",
                                             str(tmpdir / "bench-text.toml"), "--json"], tmpdir))
            loads.append(os.getloadavg()[0])
    shapes = {w: r[0]["shape"] for w, r in reads.items()}
    print(f"{args.rows:,} rows, 20 numbers + 2 text columns; {args.repeats} interleaved repeats; "
          f"load average {min(loads):.1f}-{max(loads):.1f}; shapes {shapes}")
    print("| reader | median s | min s | time ratio | peak RSS MB | memory ratio |")
    print("|---|---|---|---|---|---|")
    ref_t = statistics.median(r["seconds"] for r in reads["pandas"])
    ref_m = statistics.median(r["peak_mb"] for r in reads["pandas"])
    for which, label in (("pandas", "pandas read_csv + get_dummies"), ("dltui", "dltui (every data rule)")):
        rs = reads[which]
        t, m = statistics.median(r["seconds"] for r in rs), statistics.median(r["peak_mb"] for r in rs)
        print(f"| {label} | {t:.2f} | {min(r['seconds'] for r in rs):.2f} | {t / ref_t:.2f} | "
              f"{m:.0f} | {m / ref_m:.2f} |")
    print()
    print("| whole process | median s | min s | ratio to the hand script |")
    print("|---|---|---|---|")
    ref = statistics.median(whole["hand"])
    for label, ts in whole.items():
        mid = statistics.median(ts)
        print(f"| {label} | {mid:.2f} | {min(ts):.2f} | {mid / ref:.2f} |")


if __name__ == "__main__":
    main()
