"""`python -m bench [--device cpu|cuda] [--repeats 3] [--only NAME] [--write [--out FILE]]`

Runs every workload back to back in one process: the hand-written reference, the engine through
its public API (sequential and, for K-fold, parallel folds), the same loop with a DataLoader, Keras 3
on torch when installed, and `dltui run` as a subprocess. Writes a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.experts import train_bmm, train_vmap
from bench.reference import train
from bench.workloads import WORKLOADS, Workload, reference_tasks
from dltui.engine import Experiment, load_preset, prepare
from dltui.engine.spec import Preset


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def load(w: Workload, extra: list[str], device: str) -> Any:
    overrides = [*w.overrides, *extra, f"train.device={device}"]
    if isinstance(w.preset, dict):
        from dltui.engine.presets import apply_override

        raw = {**w.preset}
        raw = __import__("copy").deepcopy(raw)
        for item in overrides:
            apply_override(raw, item)
        return prepare(Preset.model_validate(raw))
    spec, path = load_preset(w.preset, overrides)
    return prepare(spec, path.parent)


def engine_metric(summary: dict[str, Any]) -> float:
    metric = summary["primary_metric"]
    return statistics.fmean(r["last"][metric] for r in summary["folds"])


def keras_kfold(tasks: list, epochs: int) -> float | None:
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras  # type: ignore[import-not-found]
    except Exception:
        return None
    maes = []
    for t in tasks:
        keras.utils.set_random_seed(t.seed)
        model = keras.Sequential([keras.Input((t.x_train.shape[1],)),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.RMSprop(t.lr), loss="mse", metrics=["mae"])
        model.fit(t.x_train, t.y_train, epochs=epochs, batch_size=t.batch_size, verbose=0,
                  validation_data=(t.x_val, t.y_val))
        maes.append(model.evaluate(t.x_val, t.y_val, verbose=0)[1])
    return statistics.fmean(maes)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-subprocess", action="store_true")
    ap.add_argument("--write", action="store_true",
                    help="replace this device's section of --out (the tracked results: only "
                         "when asked); without it the table is printed only")
    ap.add_argument("--out", default="bench/RESULTS.md")
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="dltui-bench-"))
    rows: list[tuple[str, str, list[float], float, float, int]] = []
    for w in WORKLOADS:
        if args.only and args.only.lower() not in w.name.lower():
            continue
        rows += bench_workload(w, args, runs)
        print(f"done: {w.name}", file=sys.stderr)
    write(rows, args)


def bench_workload(w: Workload, args: argparse.Namespace, runs: Path) -> list[tuple]:
    """Every variant of one workload, the repeats interleaved (variant A, B, C, then A, B, C
    again), so a noisy neighbour slows each alike; medians and minima reported."""
    prep = load(w, [], args.device)
    tasks = reference_tasks(prep, w.build)
    samples = sum(len(t.x_train) for t in tasks) * prep.preset.train.epochs
    train(tasks[0], args.device)  # warm-up: first-use costs (kernels, lazy imports)
    Experiment(load(w, ["train.epochs=1"], args.device), runs).run()

    # Every reference runs at the thread count the engine picks (a second thread under a busy
    # neighbour measured the neighbour: 73-95 s against 8-10 s); torch's default (one thread per
    # core) is a row for information.
    from dltui.engine.train.threads import choose_threads

    widest = len(tasks) if len(tasks) > 1 else 1
    picked = choose_threads(prep.preset.train.threads,
                            prep.macs * prep.preset.train.batch_size * widest, prep.device).threads
    default = torch.get_num_threads()

    def at(threads: int, fn: Callable[[], float]) -> Callable[[], float]:
        def run() -> float:
            torch.set_num_threads(threads)
            try:
                return fn()
            finally:
                torch.set_num_threads(default)
        return run

    reference = at(picked, lambda: statistics.fmean(train(t, args.device) for t in tasks))
    seq = load(w, ["validation.parallel_folds=false"], args.device)
    par = load(w, [], args.device)
    # label -> (run once, returning the metric for the table), in the order of the table
    variants: dict[str, Callable[[], float]] = {"reference (hand loop)": reference}
    if picked != default:
        variants[f"reference at torch's default {default} threads (info)"] = \
            at(default, lambda: statistics.fmean(train(t, args.device) for t in tasks))
    variants["engine (API)"] = lambda: engine_metric(Experiment(seq, runs).run())
    if len(tasks) > 1:
        variants[f"engine, parallel folds ({len(tasks)} at once)"] = \
            lambda: engine_metric(Experiment(par, runs).run())
        if w.width and args.device == "cpu":  # the experts' stacked peers (an MLP of this width)
            variants["expert stacked: bmm + autograd"] = at(picked, lambda: train_bmm(tasks, w.width))
            variants["expert stacked: torch.func + vmap"] = \
                at(picked, lambda: train_vmap(tasks, w.width))
    variants["hand loop + DataLoader (info)"] = \
        at(picked, lambda: statistics.fmean(train(t, args.device, loader=True) for t in tasks))
    if not args.no_subprocess and isinstance(w.preset, str):
        sets = [part for o in w.overrides for part in ("--set", o)]
        cmd = [sys.executable, "-m", "dltui.tui", "run", w.preset, "--json", "--runs-dir",
               str(runs), *sets, "--set", f"train.device={args.device}"]

        def subprocess_run() -> float:
            subprocess.run(cmd, capture_output=True, check=True)
            return float("nan")

        variants["`dltui run` subprocess (start-up included)"] = subprocess_run
    times: dict[str, list[float]] = {label: [] for label in variants}
    metrics: dict[str, float] = {}
    for _ in range(args.repeats):
        for label, fn in variants.items():
            spent, metrics[label] = timed(fn, 1)
            times[label] += spent
    base = statistics.median(times["reference (hand loop)"])
    rows = [(w.name, label, times[label], base, metrics[label], samples) for label in variants]
    if w.keras:  # once: its first fit includes its own start-up
        k_t, k_m = timed(lambda: keras_kfold(tasks, prep.preset.train.epochs), 1)
        if k_m is not None:
            at = len(rows) - ("`dltui run` subprocess (start-up included)" in variants)
            rows.insert(at, (w.name, "Keras 3 on torch, fit (peer)", k_t, base, k_m, samples))
    return rows


def write(rows: list, args: argparse.Namespace) -> None:
    dev = args.device
    gpu = torch.cuda.get_device_name(0) if dev.startswith("cuda") else ""
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
               f"device {dev}{' (' + gpu + ')' if gpu else ''}, Python {platform.python_version()}")
    lines = [f"## Device: {dev}", "", f"Machine: {machine}. Medians over {args.repeats} "
             "interleaved repeats (min / max shown); ratio = median time / reference median time.",
             "",
             "| workload | variant | median s | min s | max s | samples/s | ratio | val metric |",
             "|---|---|---|---|---|---|---|---|"]
    for name, variant, times, base, metric, samples in rows:
        med = statistics.median(times)
        lines.append(f"| {name} | {variant} | {med:.3f} | {min(times):.3f} | {max(times):.3f} | "
                     f"{samples / med:,.0f} | {med / base:.3f} | {metric:.4f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.write:
        print(f"(not written: --write replaces the {dev} section of {args.out})", file=sys.stderr)
        return
    out = Path(args.out)
    if out.exists():
        old = out.read_text()
        marker = f"## Device: {dev}"
        if marker in old:  # replace this device's section, keep the others
            head, _, rest = old.partition(marker)
            tail = rest[rest.find("\n## Device:"):] if "\n## Device:" in rest else ""
            text = head + text + tail
        else:
            text = old.rstrip() + "\n\n" + text
    else:
        text = "# Benchmark results\n\nWritten by `python -m bench`.\n\n" + text
    out.write_text(text)


if __name__ == "__main__":
    main()
