"""`python -m bench.first_paint [--repeats 5]`: seconds from launching the app in a real
terminal (tmux, 120x40) until its first screen is drawn, and until the builder shows the data
and the model's shapes (torch and the data loaded behind the screen), against
`python -c "import textual"` (the floor of any Textual app), interleaved, each in a fresh
process. Needs tmux."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _screen(socket: str) -> str:
    return subprocess.run(["tmux", "-L", socket, "capture-pane", "-p"], capture_output=True,
                          text=True).stdout


def app_times(folder: str) -> tuple[float, float]:
    """(first paint, shapes shown) for `dltui open kfold-diabetes`."""
    socket = f"bench-fp-{os.getpid()}-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "CI")}
    env["TERM"] = "xterm-256color"
    command = f"cd {folder} && {sys.executable} -m dltui.tui open kfold-diabetes"
    started = time.perf_counter()
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "120", "-y", "40",
                    command], check=True, env=env)
    painted = shapes = float("nan")
    try:
        while time.perf_counter() - started < 60:
            text = _screen(socket)
            now = time.perf_counter() - started
            if painted != painted and "Model" in text and "^q" in text:
                painted = now
            if "4,929 params" in text:
                shapes = now
                break
            time.sleep(0.01)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    return painted, shapes


def import_textual() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual"], check=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.first_paint")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows: dict[str, list[float]] = {"import textual": [], "first paint": [], "shapes shown": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            rows["import textual"].append(import_textual())
            painted, shapes = app_times(folder)
            rows["first paint"].append(painted)
            rows["shapes shown"].append(shapes)
    load = os.getloadavg()[0]
    floor = statistics.median(rows["import textual"])
    print(f"load average {load:.2f}; {args.repeats} interleaved repeats")
    print(f"{'':16} {'median s':>9} {'min s':>7} {'x import textual':>17}")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"{name:16} {med:9.2f} {min(values):7.2f} {med / floor:17.2f}")


if __name__ == "__main__":
    main()
