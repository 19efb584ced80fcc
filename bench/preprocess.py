"""`python -m bench.preprocess [--repeats 5]`: fitting the standardisation and the redundancy
check on 200k x 784 float32 rows (160k training rows), dltui's blocked one-pass versions against
the plain numpy ways (a copy of the training rows, then mean/std in float64; duplicate rows via
`np.unique` over whole rows), interleaved; peak memory of each in its own process."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import numpy as np
which = sys.argv[1]
from dltui.engine.data.checks import row_hashes  # imported before the clock, by every way alike
from dltui.engine.data.preprocess import fit_preprocessing
rng = np.random.default_rng(0)
x = rng.standard_normal((200_000, 784), dtype=np.float32)
train = np.sort(rng.permutation(len(x))[:160_000])
def hwm():
    with open("/proc/self/status") as fh:
        return int(next(x for x in fh if x.startswith("VmHWM:")).split()[1])
base = hwm()
t = time.perf_counter()
if which == "numpy stats":
    part = x[train]
    mean, std = part.mean(0, dtype=np.float64), part.std(0, dtype=np.float64)
elif which == "dltui stats":
    fit_preprocessing(x, train, True, has_nan=False)
elif which == "numpy duplicates":
    rows = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1])))
    len(np.unique(rows))
else:
    len(np.unique(row_hashes(x)))
seconds = time.perf_counter() - t
peak = hwm()
print(json.dumps({"seconds": seconds, "extra_mb": (peak - base) / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.preprocess")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ways = ["numpy stats", "dltui stats", "numpy duplicates", "dltui duplicates"]
    runs: dict[str, list[dict]] = {w: [] for w in ways}
    for _ in range(args.repeats):
        for way in ways:
            out = subprocess.run([sys.executable, "-c", CHILD, way], capture_output=True,
                                 text=True, check=True)
            runs[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| way | median s | min s | extra peak MB |")
    print("|---|---|---|---|")
    for way, rs in runs.items():
        print(f"| {way} | {statistics.median(r['seconds'] for r in rs):.2f} | "
              f"{min(r['seconds'] for r in rs):.2f} | {max(r['extra_mb'] for r in rs):.0f} |")


if __name__ == "__main__":
    main()
