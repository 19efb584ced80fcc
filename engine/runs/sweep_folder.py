"""Sweep folders, read: the ranked table, whether the sweep still runs (or its process died, as a
killed run's does), and a variant's run folder where a command expects one run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..events import SweepEnded, SweepStarted, event_from_dict, printable
from .folder import RunInfo, parse_lines, writer_alive


def is_sweep(path: Path) -> bool:
    return (path / "sweep.jsonl").exists()


def sweep_table(path: Path) -> dict[str, Any] | None:
    try:
        table = json.loads((path / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return printable(table) if isinstance(table, dict) else None


def sweep_status(path: Path) -> tuple[str, str]:
    """(status, why): the sweep's own last word when it ended, `running` while its process
    lives, else `failed` (killed: nothing wrote its end)."""
    try:
        text = (path / "sweep.jsonl").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "failed", "sweep.jsonl is unreadable"
    events = [e for e in map(event_from_dict, parse_lines(text)) if e is not None]
    end = next((e for e in reversed(events) if isinstance(e, SweepEnded)), None)
    if end is not None:
        return end.status, ""
    start = next((e for e in events if isinstance(e, SweepStarted)), None)
    if writer_alive(path, start.pid if start is not None else 0, "sweep.jsonl"):
        return "running", ""
    return "failed", "its process is gone (killed before the sweep ended)"


def ranking(path: Path) -> list[dict[str, Any]]:
    table = sweep_table(path) or {}
    rows = table.get("ranking", [])
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def best_variant(path: Path) -> dict[str, Any] | None:
    return next((r for r in ranking(path) if isinstance(r.get("mean"), int | float)), None)


def describe_variant(row: dict[str, Any], metric: str) -> str:
    return f"v{int(row.get('index', 0)):02d} ({row.get('label', '?')}, val {metric} {row['mean']:.4g})"


def sweep_info(path: Path) -> RunInfo:
    """A sweep folder in the runs list: its best variant as the headline."""
    table = sweep_table(path) or {}
    status, _ = sweep_status(path)
    best = best_variant(path)
    headline = f"best {describe_variant(best, str(table.get('metric', '?')))}" if best else ""
    return RunInfo(path, str(table.get("preset", path.name)), "sweep", status, headline)


def variant_run(path: Path, variant: str | None) -> Path:
    """The run folder of one variant of a sweep: `best`, `v02` / `2`, or a variant's label. With
    no choice, the one-line answer says what the folder is and how to pick."""
    rows = ranking(path)
    metric = str((sweep_table(path) or {}).get("metric", "?"))
    best = best_variant(path)
    if variant is None:
        hint = f"its best variant is {describe_variant(best, metric)}" if best else \
            "no variant has finished yet"
        raise InputError(f"{path}: this is a sweep, not a run; {hint}; pick one with --variant "
                         "best, --variant v02 (its number) or its label")
    if variant == "best":
        if best is None:
            raise InputError(f"--variant best: no variant of {path} has finished yet")
        row = best
    else:
        number = re.fullmatch(r"v?(\d+)", variant.strip())
        match = [r for r in rows if (number and r.get("index") == int(number.group(1)))
                 or r.get("label") == variant]
        if not match:
            names = ", ".join(f"v{int(r.get('index', 0)):02d} ({r.get('label')})"
                              for r in sorted(rows, key=lambda r: int(r.get("index", 0))))
            raise InputError(f"--variant {variant}: no such variant in {path} (have: {names or 'none yet'})")
        row = match[0]
    # Variant run folders live inside the sweep folder: found by name, so a moved sweep works.
    run_dir = path / Path(str(row.get("run_dir", ""))).name
    if not run_dir.is_dir():
        raise InputError(f"--variant {variant}: {path} has no run folder for it ({row.get('status')})")
    return run_dir
