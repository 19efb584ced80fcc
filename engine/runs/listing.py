"""The runs list (every run and sweep folder under a runs directory, with its status, even for a
writer that died) and finding a run folder by path, name or `latest`."""

from __future__ import annotations

from pathlib import Path

from ..events import RunStarted, event_from_dict
from .folder import RunInfo, parse_lines, read_summary, writer_alive
from .sweep_folder import sweep_info


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Past runs, newest first; a run without a summary is still running or was killed."""
    runs = []
    if not runs_dir.is_dir():
        return runs
    for path in runs_dir.iterdir():
        if (path / "sweep.jsonl").exists():
            runs.append(sweep_info(path))
            continue
        if not (path / "metrics.jsonl").exists():
            continue
        summary = read_summary(path)
        if summary is None:  # running, or its writer died: what it started as is in line one
            started = _started(path)
            status = "running" if started and writer_alive(path, started.pid) else "failed"
            summary = {"status": status, "preset": started.preset if started else path.name,
                       "scheme": started.scheme if started else "?"}
        started = _started(path)
        folds = [f for f in summary.get("folds", []) if isinstance(f, dict)] \
            if isinstance(summary.get("folds"), list) else []
        seconds = summary.get("seconds", 0.0)
        runs.append(RunInfo(path, str(summary.get("preset", path.name)),
                            str(summary.get("scheme", "?")), str(summary.get("status", "?")),
                            str(summary.get("headline", "")),
                            float(seconds) if isinstance(seconds, int | float) else 0.0,
                            max((int(f.get("epochs_run", 0) or 0) for f in folds), default=0),
                            started.params if started else 0))
    return sorted(runs, key=lambda r: r.path.name, reverse=True)  # names start with the time


def _started(run_dir: Path) -> RunStarted | None:
    try:
        with (run_dir / "metrics.jsonl").open("rb") as fh:
            first = parse_lines(fh.readline().decode("utf-8", errors="replace"))
    except OSError:
        return None
    started = event_from_dict(first[0]) if first else None
    return started if isinstance(started, RunStarted) else None


def find_run(runs_dir: Path, ref: str) -> Path | None:
    """A run (or sweep) folder by path, by folder name, or `latest`."""
    if ref == "latest":
        runs = list_runs(runs_dir)
        return runs[0].path if runs else None
    for cand in (Path(ref), runs_dir / ref):
        if any((cand / name).exists() for name in ("metrics.jsonl", "preset.toml", "sweep.jsonl")):
            return cand
    return None
