"""`python -m bench.startup [--repeats 5]`: wall time from process start to the first epoch of
`dltui run binary-breast-cancer --json`, against `python -c "import torch"` (the floor any PyTorch tool
pays), interleaved. Also says which heavy modules the run imported."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def first_epoch(runs: str) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dltui.tui", "run", "binary-breast-cancer", "--json",
                             "--runs-dir", runs], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = float("nan")
    for line in proc.stdout:
        if '"event": "epoch"' in line:
            seen = time.perf_counter() - started
            break
    proc.kill()
    proc.wait()
    return seen


def import_torch() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.startup")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        first_epoch(runs)  # warm caches: the OS's file cache and dltui's bundled-set cache
        torch_t, run_t = [], []
        for _ in range(args.repeats):
            torch_t.append(import_torch())
            run_t.append(first_epoch(runs))
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv = ['dltui', 'presets'];\n"
         "from dltui.engine import load_preset, prepare, Experiment\n"
         "import tempfile, pathlib\n"
         "spec, p = load_preset('binary-breast-cancer', ['train.epochs=1'])\n"
         "Experiment(prepare(spec, p.parent), pathlib.Path(tempfile.mkdtemp())).run()\n"
         "print(' '.join(m for m in ('sklearn', 'torch._dynamo', 'textual', 'pandas', 'scipy')"
         " if m in sys.modules) or 'none')"], capture_output=True, text=True, check=True)
    t, r = statistics.median(torch_t), statistics.median(run_t)
    print(f"| `python -c 'import torch'` | {t:.2f} | {min(torch_t):.2f} | 1.00 |")
    print(f"| `dltui run binary-breast-cancer --json`, first epoch | {r:.2f} | {min(run_t):.2f} | "
          f"{r / t:.2f} |")
    print(f"heavy modules imported by the run: {heavy.stdout.strip()}")


if __name__ == "__main__":
    main()
