"""`python -m bench.startup [--repeats 5]`: what a user waits for around the training, each in a
fresh process, interleaved, against `python -c "import torch"` (the floor any PyTorch tool pays):
the hold-out run's first epoch, the stacked K-fold run's first epoch and whole process (its
training is a fraction of a second), `dltui presets` and `dltui summary` (no torch)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

DLTUI = [sys.executable, "-m", "dltui.tui"]


def first_epoch(preset: str, runs: str) -> tuple[float, float]:
    """(seconds to the first epoch line, seconds to the process's end)."""
    started = time.perf_counter()
    proc = subprocess.Popen([*DLTUI, "run", preset, "--json", "--runs-dir", runs],
                            stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    seen = float("nan")
    for line in proc.stdout:
        if seen != seen and '"event": "epoch"' in line:
            seen = time.perf_counter() - started
    proc.wait()
    return seen, time.perf_counter() - started


def whole(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.startup")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows: dict[str, list[float]] = {k: [] for k in (
        "import torch", "holdout first", "kfold first", "kfold whole", "presets", "summary",
        "import typer", "pass")}
    loads = []
    with tempfile.TemporaryDirectory() as runs:
        first_epoch("binary-breast-cancer", runs)  # warm caches: the OS's and the bundled sets'
        first_epoch("kfold-diabetes", runs)
        for _ in range(args.repeats):
            rows["import torch"].append(whole([sys.executable, "-c", "import torch"]))
            rows["holdout first"].append(first_epoch("binary-breast-cancer", runs)[0])
            first, end = first_epoch("kfold-diabetes", runs)
            rows["kfold first"].append(first)
            rows["kfold whole"].append(end)
            rows["presets"].append(whole([*DLTUI, "presets"]))
            rows["summary"].append(whole([*DLTUI, "summary", "binary-breast-cancer"]))
            # the peers of the commands without torch: Python itself, and the CLI library
            rows["import typer"].append(whole([sys.executable, "-c", "import typer"]))
            rows["pass"].append(whole([sys.executable, "-c", "pass"]))
            loads.append(os.getloadavg()[0])
    floor = statistics.median(rows["import torch"])
    labels = {
        "import torch": "`python -c 'import torch'` (the floor)",
        "holdout first": "`dltui run binary-breast-cancer --json`, first epoch",
        "kfold first": "`dltui run kfold-diabetes --json` (stacked K-fold), first epoch",
        "kfold whole": "`dltui run kfold-diabetes --json`, whole process",
        "presets": "`dltui presets`",
        "summary": "`dltui summary binary-breast-cancer`",
        "import typer": "`python -c 'import typer'` (the CLI library alone)",
        "pass": "`python -c pass` (Python alone)",
    }
    print(f"{args.repeats} interleaved repeats; load average {min(loads):.2f}-{max(loads):.2f}\n")
    print("| what | median s | min s | ratio to import torch |")
    print("|---|---|---|---|")
    for key, label in labels.items():
        mid = statistics.median(rows[key])
        print(f"| {label} | {mid:.2f} | {min(rows[key]):.2f} | {mid / floor:.2f} |")


if __name__ == "__main__":
    main()
