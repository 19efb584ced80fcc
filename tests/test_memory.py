"""Peak memory of a big-array run: the data is held once (no copy per split, per part or per
preprocessing step), so a run's peak stays within 1.5x the float32 data plus the model, plus the
runtime's own first-use pages. Measured with getrusage in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SAMPLES = 200_000
RUNTIME_ALLOWANCE_MB = 256  # torch's kernels and thread pools paged in on first use

CHILD = textwrap.dedent("""
    import json, os, sys, tempfile
    from pathlib import Path
    import torch
    from dltui.engine import EventBus, Experiment, prepare
    from dltui.engine.spec import Preset

    def current_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def peak_mb():
        # VmHWM, this process's own high-water mark: getrusage's ru_maxrss survives exec, so
        # it would report the forking parent's size when that is bigger (a long test session).
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    base = current_mb()
    stages = []

    def note(event):
        peak = peak_mb()
        stages.append((event.kind, round(current_mb() - base), round(peak - base)))

    preset = Preset.model_validate({
        "name": "big", "data": {"source": f"npz:{sys.argv[1]}", "layout": "channels_first"},
        "model": {"layers": [{"type": "Flatten"},
                             {"type": "Dense", "units": 128, "activation": "relu"},
                             {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "train": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                  "epochs": 1, "batch_size": 256, "threads": 1},
        "validation": {"val_fraction": 0.2}})
    prep = prepare(preset)
    stages.append(("prepared", round(current_mb() - base), 0))
    bus = EventBus()
    bus.subscribe(lambda e: note(e) if e.kind != "batch" else None)
    with tempfile.TemporaryDirectory() as runs:
        summary = Experiment(prep, Path(runs), bus).run()
    peak = peak_mb()
    print(json.dumps({"status": summary["status"], "above_mb": peak - base,
                      "params": prep.params, "stages": stages}))
""")


def test_a_200k_image_run_holds_its_data_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, SAMPLES)
    x = rng.standard_normal((SAMPLES, 1, 28, 28), dtype=np.float32)
    x += y[:, None, None, None].astype(np.float32)
    np.savez(tmp_path / "images.npz", x=x, y=y)
    data_mb = x.nbytes / 2**20
    del x
    # One thread and few malloc arenas: the measure is about copies of the data, not about how
    # many per-thread heaps the C allocator keeps on a busy machine.
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "images.npz")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "done"
    model_mb = result["params"] * 4 * 4 / 2**20  # weights, gradients, optimizer state
    bound = 1.5 * data_mb + model_mb + RUNTIME_ALLOWANCE_MB
    assert result["above_mb"] <= bound, (
        f"peak {result['above_mb']:.0f} MB above the process's baseline for {data_mb:.0f} MB of "
        f"data: over the bound of {bound:.0f} MB (a copy of the data is being made); "
        f"(event, MB now, peak MB) above baseline: {result['stages']}")
