"""`python -m bench.live_overhead`: what drawing costs. The same preset trains headless with
`--json`, with the rich display on a real terminal (tmux), and inside the app (tmux, ctrl+t); each
run's own training time is read from its summary.json, so start-up is left out."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = [("binary-breast-cancer", ["train.epochs=150", "train.batch_size=8"]),
           ("kfold-diabetes", ["train.epochs=150", "validation.final_fit=false"])]


def newest_summary(runs: Path, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = sorted(runs.glob("*/summary.json"))
        if found:
            time.sleep(0.2)
            return json.loads(found[-1].read_text())
        time.sleep(0.2)
    raise TimeoutError(f"no summary in {runs}")


def tmux(socket: str, *args: str) -> None:
    subprocess.run(["tmux", "-L", socket, *args], check=True,
                   env={**os.environ, "TERM": "xterm-256color"})


def headless(preset: str, sets: list[str], runs: Path) -> float:
    subprocess.run([sys.executable, "-m", "dltui.tui", "run", preset, "--json", "--runs-dir",
                    str(runs), *[a for s in sets for a in ("--set", s)]],
                   stdout=subprocess.DEVNULL, check=True)
    return newest_summary(runs)["seconds"]


def in_terminal(preset: str, sets: list[str], runs: Path, app: bool) -> float:
    socket = f"dltui-bench-{os.getpid()}"
    flags = " ".join(f"--set {s}" for s in sets)
    if app:  # the app has no --set: write the preset with the overrides applied
        from dltui.engine.presets import load_preset, preset_to_toml

        spec, _ = load_preset(preset, sets)
        path = runs.parent / f"{preset}.toml"
        path.write_text(preset_to_toml(spec))
        cmd = f"{sys.executable} -m dltui.tui open {path} --runs-dir {runs}"
    else:
        cmd = f"{sys.executable} -m dltui.tui run {preset} {flags} --runs-dir {runs}; sleep 30"
    tmux(socket, "new-session", "-d", "-x", "120", "-y", "35", cmd)
    try:
        if app:
            time.sleep(6)  # the app's first screen and the data load
            tmux(socket, "send-keys", "C-t")
        return newest_summary(runs)["seconds"]
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    lines = ["## Live view overhead", "",
             "Training seconds from each run's summary (start-up excluded), median (and min) of "
             f"{repeats} interleaved repeats; ratios of the medians to headless `--json`.", "",
             "| preset | headless --json s | rich on a terminal s | ratio | in the app s | ratio |",
             "|---|---|---|---|---|---|"]
    for preset, sets in PRESETS:
        times: dict[str, list[float]] = {"json": [], "rich": [], "app": []}
        for _ in range(repeats):
            for mode in times:
                root = Path(tempfile.mkdtemp(prefix="dltui-live-"))
                runs = root / "runs"
                t = headless(preset, sets, runs) if mode == "json" else \
                    in_terminal(preset, sets, runs, app=mode == "app")
                times[mode].append(t)
                shutil.rmtree(root, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        cell = {k: f"{med[k]:.2f} ({min(v):.2f})" for k, v in times.items()}
        lines.append(f"| {preset} ({', '.join(sets)}) | {cell['json']} | {cell['rich']} | "
                     f"{med['rich'] / med['json']:.3f} | {cell['app']} | "
                     f"{med['app'] / med['json']:.3f} |")
        print(lines[-1], file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
