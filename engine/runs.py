"""Run folders: `runs/<time>-<preset>/` with the resolved preset, `metrics.jsonl` (one event per
line, appended and flushed as it happens), `summary.json` (written atomically) and the weights.

Readers tolerate what a killed writer leaves: no summary yet, or a half-written last line.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dltui.engine.events import BatchProgress, Event, event_from_dict


def safe_name(name: str) -> str:
    """A folder-name part that cannot escape the runs directory or hide a path."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")[:60]
    return cleaned or "run"


def new_run_dir(runs_dir: Path, preset_name: str) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(preset_name)}"
    for n in range(1, 1000):
        path = runs_dir / (stem if n == 1 else f"{stem}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{runs_dir}: too many runs named {stem}")


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file and rename: a reader never sees half a file, even when the writer
    is killed. (No fsync: that guards against power loss, at milliseconds per write.)"""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunWriter:
    """Subscribes to the engine's events and keeps the run folder up to date."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        (run_dir / "weights").mkdir(exist_ok=True)
        self._metrics = (run_dir / "metrics.jsonl").open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            return
        # One write per line, then flush: a killed process leaves whole lines behind it.
        self._metrics.write(json.dumps(event.to_dict()) + "\n")
        self._metrics.flush()

    def write_preset(self, text: str) -> None:
        write_atomic(self.dir / "preset.toml", text)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.dir / "summary.json", json.dumps(summary, indent=2) + "\n")

    def save_weights(self, name: str, state: dict[str, torch.Tensor]) -> None:
        cpu = {k: v.detach().cpu() for k, v in state.items()}
        tmp = self.dir / "weights" / f".{name}.pt.tmp"
        torch.save(cpu, tmp)
        os.replace(tmp, self.dir / "weights" / f"{name}.pt")

    def close(self) -> None:
        self._metrics.close()


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    # weights_only: a run folder may come from someone else; never unpickle code from it.
    return torch.load(path, map_location="cpu", weights_only=True)


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Whole JSON lines only: a last line without its newline may still be being written."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def read_events(run_dir: Path) -> list[Event]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [e for e in map(event_from_dict, parse_lines(text)) if e is not None]


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


class EventFollower:
    """Reads new whole lines of `metrics.jsonl` as another process appends them."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "metrics.jsonl"
        self._offset = 0
        self._pending = b""

    def poll(self) -> list[Event]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._pending + chunk
        head, sep, self._pending = data.rpartition(b"\n")
        if not sep:
            self._pending = data
            return []
        text = (head + b"\n").decode("utf-8", errors="replace")
        return [e for e in map(event_from_dict, parse_lines(text)) if e is not None]


def writer_alive(run_dir: Path, pid: int) -> bool:
    """Whether the process writing a run may still add to it: its pid when known (same machine),
    else a metrics file that grew in the last minute."""
    if (run_dir / "summary.json").exists():
        return True
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(pid)
    metrics = run_dir / "metrics.jsonl"
    return metrics.exists() and time.time() - metrics.stat().st_mtime < 60


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


@dataclass(frozen=True)
class RunInfo:
    path: Path
    preset: str
    scheme: str
    status: str
    best: str


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Past runs, newest first; a run without a summary is still running or was killed."""
    runs = []
    if not runs_dir.is_dir():
        return runs
    for path in runs_dir.iterdir():
        if not (path / "metrics.jsonl").exists():
            continue
        summary = read_summary(path) or {}
        status = summary.get("status") or "running/killed"
        best = summary.get("headline", "")
        runs.append(RunInfo(path, summary.get("preset", path.name), summary.get("scheme", "?"),
                            status, best))
    return sorted(runs, key=lambda r: r.path.name, reverse=True)  # names start with the time


def find_run(runs_dir: Path, ref: str) -> Path | None:
    """A run folder by path, by folder name, or `latest`."""
    if ref == "latest":
        runs = list_runs(runs_dir)
        return runs[0].path if runs else None
    for cand in (Path(ref), runs_dir / ref):
        if (cand / "metrics.jsonl").exists() or (cand / "preset.toml").exists():
            return cand
    return None

