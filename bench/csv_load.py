"""`python -m bench.csv_load [--rows 1000000] [--repeats 3]`: reading a numeric CSV (rows x 20
float columns and an integer label) into a float32 feature matrix, dltui's reader (all data rules
applied) against pandas' C reader, each in its own process (time and peak memory), interleaved."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import json, sys, time
from pathlib import Path
which, path = sys.argv[1], Path(sys.argv[2])
import numpy as np
if which == "pandas":
    import pandas as pd
else:  # each reader's libraries imported before the clock starts, as pandas is for pandas
    import pandas, pyarrow.compute, pyarrow.csv  # noqa: F401, E401 (pandas: big files' typed pass)
    from dltui.engine.data.tables.encode import read_csv
def hwm():
    with open("/proc/self/status") as fh:
        return int(next(x for x in fh if x.startswith("VmHWM:")).split()[1])
base = hwm()
t = time.perf_counter()
if which == "pandas":
    frame = pd.read_csv(path)
    x = frame.drop(columns="label").to_numpy(np.float32)
else:
    x = read_csv(path, "label", [], "error").x
seconds = time.perf_counter() - t
peak = hwm()
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "shape": list(x.shape)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.csv_load")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        rng = np.random.default_rng(0)
        with path.open("w") as fh:
            fh.write(",".join([f"f{i}" for i in range(20)] + ["label"]) + "\n")
            for s in range(0, args.rows, 100_000):
                block = rng.normal(size=(min(100_000, args.rows - s), 20)).astype(np.float32)
                labels = (block[:, 0] > 0).astype(int)
                np.savetxt(fh, np.column_stack([block, labels]), fmt=["%.6g"] * 20 + ["%d"],
                           delimiter=",")
        runs: dict[str, list[dict]] = {"pandas": [], "dltui": []}
        for _ in range(args.repeats):
            for which in runs:
                out = subprocess.run([sys.executable, "-c", CHILD, which, str(path)],
                                     capture_output=True, text=True, check=True)
                runs[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref_t = statistics.median(r["seconds"] for r in runs["pandas"])
    ref_m = statistics.median(r["peak_mb"] for r in runs["pandas"])
    print(f"{args.rows:,} rows x 20 columns, {args.repeats} interleaved repeats")
    print("| reader | median s | min s | time ratio | peak RSS MB | memory ratio |")
    print("|---|---|---|---|---|---|")
    for which, label in (("pandas", "pandas.read_csv (C reader)"),
                         ("dltui", "dltui (every data rule; typed pass by pandas from 32 MB)")):
        rs = runs[which]
        t = statistics.median(r["seconds"] for r in rs)
        m = statistics.median(r["peak_mb"] for r in rs)
        print(f"| {label} | {t:.2f} | {min(r['seconds'] for r in rs):.2f} | {t / ref_t:.2f} | "
              f"{m:.0f} | {m / ref_m:.2f} |")


if __name__ == "__main__":
    main()
