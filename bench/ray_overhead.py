"""`python -m bench.ray_overhead`: where a Ray sweep's time goes, against the local backend.

Times, in one process on a local Ray instance (127.0.0.1): importing Ray, starting the instance,
creating the event queue (an actor), a no-op task's round trip, a worker's first import of torch
and dltui's engine (every new worker pays it), shipping a variant's payload; then the whole
4-variant sweep through `dltui sweep` with each backend as a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def phases() -> list[tuple[str, float]]:
    out = []
    t = time.perf_counter()
    import ray

    out.append(("import ray", time.perf_counter() - t))
    t = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    out.append(("ray.init (a new local instance)", time.perf_counter() - t))
    from ray.util.queue import Queue

    t = time.perf_counter()
    queue = Queue()
    queue.put(1)
    out.append(("the event queue (an actor) and one event", time.perf_counter() - t))

    @ray.remote
    def noop() -> int:
        return 1

    t = time.perf_counter()
    ray.get(noop.remote())
    out.append(("a no-op task's round trip (worker warm-up)", time.perf_counter() - t))

    @ray.remote
    def imports() -> float:
        start = time.perf_counter()
        import torch  # noqa: F401

        import dltui.engine.sweeps.remote  # noqa: F401

        return time.perf_counter() - start

    t = time.perf_counter()
    inside = ray.get(imports.remote())
    out.append(("a worker importing torch and dltui (inside the task)", inside))
    out.append(("  the same task's round trip", time.perf_counter() - t))
    blob = b"x" * 200_000  # a CSV of ~200 KB shipped with a variant
    t = time.perf_counter()
    ray.get(ray.put(blob))
    out.append(("shipping a 200 KB data file", time.perf_counter() - t))
    ray.shutdown()
    return out


def sweep(backend: list[str], folder: Path) -> float:
    folder.mkdir(parents=True)
    toml = folder / "p.toml"
    toml.write_text(PRESET)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dltui.tui", "sweep", str(toml), *backend,
                    "--runs-dir", str(folder / "runs")], check=True, capture_output=True)
    return time.perf_counter() - t


PRESET = """
[data]
source = "builtin:diabetes"
[[model.layers]]
type = "Dense"
units = 16
activation = "relu"
[[model.layers]]
type = "Dense"
units = 1
[train]
loss = "mse"
metrics = ["mae"]
epochs = 20
[validation]
scheme = "kfold"
k = 3
[sweep]
"model.layers[0].units" = [8, 16]
"train.learning_rate" = [0.001, 0.01]
"""


def main() -> None:
    rows = phases()
    with tempfile.TemporaryDirectory() as tmp:
        local = sweep([], Path(tmp) / "a")
        on_ray = sweep(["--backend", "ray"], Path(tmp) / "b")
    print("| phase | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print(f"| `dltui sweep` 4 variants (2 stacked groups), local backend | {local:.2f} |")
    print(f"| the same, `--backend ray` (a new local instance) | {on_ray:.2f} |")


if __name__ == "__main__":
    main()
