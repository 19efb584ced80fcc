"""`python -m bench.threads [--repeats 2]`: the thread policy on a shared machine. The engine
trains the diabetes K-fold workload (the book's Boston recipe on the diabetes set, folds one after
another) with `train.threads` 1 and 2, on an idle machine and beside one busy process (a Python
loop spinning on one core), the four cases interleaved."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dltui.engine import Experiment, load_preset, prepare


def once(threads: int, runs: Path) -> float:
    spec, path = load_preset("kfold-diabetes", [
        "validation.final_fit=false", "validation.test_fraction=0", "train.epochs=100",
        "validation.parallel_folds=false", f"train.threads={threads}"])
    prep = prepare(spec, path.parent)
    started = time.perf_counter()
    Experiment(prep, runs).run()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.threads")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        once(1, runs)  # warm-up
        for _ in range(args.repeats):
            for busy in (False, True):
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    for threads in (1, 2):
                        key = ("busy neighbour" if busy else "idle", threads)
                        times.setdefault(key, []).append(once(threads, runs))
                finally:
                    if hog:
                        hog.kill()
                        hog.wait()
    print("| machine | threads | median s | min s |")
    print("|---|---|---|---|")
    for (state, threads), ts in times.items():
        print(f"| {state} | {threads} | {statistics.median(ts):.2f} | {min(ts):.2f} |")


if __name__ == "__main__":
    main()
