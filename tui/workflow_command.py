"""`dltui workflow PRESET|DATA`: the book's universal workflow as one command, and its report."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import completion, exit_codes

SPARK = "▁▂▃▄▅▆▇█"


def workflow(source: Annotated[str, typer.Argument(
                 help="A preset (file or shipped name), or a data file / builtin:NAME to start "
                      "from what `dltui init` would write.", autocompletion=completion.presets)],
             target: Annotated[str | None, typer.Option("--target", help="The column to predict "
                                                        "(a table).")] = None,
             budget: Annotated[str, typer.Option(
                 "--budget", help="Time (90s, 5m, 1h) or a number of trainings (40) that the "
                                  "steps share; a step that would not fit is skipped.")] = "5m",
             time_ordered: Annotated[bool, typer.Option("--time-ordered")] = False,
             device: Annotated[str | None, typer.Option("--device")] = None,
             runs_dir: Annotated[Path, typer.Option("--runs-dir")] = Path("runs")) -> None:
    """Baseline, a first model that beats it, scale up until it overfits, the book's remedies
    side by side, then a final fit tested once; the chosen preset saved (`chosen.toml`)."""
    from dltui.engine.presets import find_preset, parse_toml, read_preset_text
    from dltui.engine.sweeps.workflow import Budget

    plan = Budget.parse(budget)
    looks_like_data = source.startswith("builtin:") or Path(source).suffix.lower() in (
        ".csv", ".parquet", ".feather", ".npz")
    if looks_like_data:
        from dltui.engine.doctor.starter import starter

        from .init_command import data_source

        preset, choices = starter(data_source(source), target, Path.cwd(), time_ordered)
        raw = preset.model_dump(mode="json", exclude_none=True)
        base_dir = Path.cwd()
        typer.echo(f"started from the data: {', '.join(f'{c.key} = {c.value}' for c in choices[:4])}"
                   " (dltui init explains each)", err=True)
    else:
        path = find_preset(source)
        raw = parse_toml(read_preset_text(path), str(path))
        raw.setdefault("name", path.stem)
        base_dir = path.parent
    _run(raw, base_dir, runs_dir, device, plan, None)


def resume_workflow(folder: Path, device: str | None) -> None:
    import json

    from dltui.engine.sweeps.workflow import WORKFLOW_FILE, Budget

    state = json.loads((folder / WORKFLOW_FILE).read_text(encoding="utf-8"))
    limits = state.get("limits") or {}
    budget = Budget(seconds=limits.get("seconds"), trainings=limits.get("trainings"))
    _run(state["preset"], Path.cwd(), folder.parent, device, budget, folder)


def _run(raw: dict[str, Any], base_dir: Path, runs_dir: Path, device: str | None, budget: Any,
         folder: Path | None) -> None:
    from dltui.engine.events import StopToken
    from dltui.engine.sweeps.workflow import Workflow

    stop = StopToken()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.request()
        sys.stderr.write("\nstopping the workflow after the current training batch\n")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    flow = Workflow(raw, base_dir, runs_dir, device, lambda line: typer.echo(line, err=True), stop,
                    budget, folder)
    state = flow.run()
    report(state, flow.folder)
    if state["status"] == "stopped":
        typer.echo(f"dltui: workflow stopped; `dltui resume {flow.folder}` continues it", err=True)
        raise typer.Exit(exit_codes.INTERRUPTED)


def report(state: dict[str, Any], folder: Path) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width))
    console.print(f"workflow {folder}: {state['status']}")
    for step in state["steps"]:
        console.print(f"\n[bold]{step['name']}[/bold]: {step['why']}")
        rows = [r for r in step.get("tried", []) if "label" in r]
        if not rows:
            continue
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("variant", "val " + (rows[0].get("metric") or ""), "± std", "best epoch",
                       "overfits at", ""):
            table.add_column(column)
        chosen = step.get("choice", {}).get("index")
        for r in rows:
            table.add_row(r["label"], "" if r.get("mean") is None else f"{r['mean']:.4g}",
                          "" if r.get("std") is None else f"{r['std']:.2g}",
                          str(r.get("best_epoch") or ""), str(r.get("overfits_at") or ""),
                          "chosen" if r["index"] == chosen else r.get("status", ""))
        console.print(table)
    last = next((s["choice"] for s in reversed(state["steps"]) if s.get("tried")), None)
    curve = (last or {}).get("curve") or []
    if curve:
        lo, hi = min(curve), max(curve)
        line = "".join(SPARK[int((v - lo) / (hi - lo or 1) * 7)] for v in curve)
        console.print(f"\nthe chosen model's averaged validation curve: {line} "
                      f"({curve[0]:.4g} -> {curve[-1]:.4g})")
    if state.get("chosen_preset"):
        console.print(f"test (once): {state.get('test')}; preset: {state['chosen_preset']}")


def watch_workflow(folder: Path) -> None:
    """A workflow's steps as lines, each when it lands, until the workflow ends."""
    import time

    from dltui.engine.events import printable
    from dltui.engine.sweeps.workflow import read_workflow

    said: set[str] = set()
    while True:
        state = read_workflow(folder)
        for step in state.get("steps", []):
            if step["status"] != "running" and step["name"] not in said:
                said.add(step["name"])
                typer.echo(printable(f"[{step['name']}] {step['status']}: {step.get('why', '')}"))
        if state.get("status") != "running":
            typer.echo(f"workflow {state.get('status')}"
                       + (f": `dltui resume {folder}` continues it"
                          if state.get("status") in ("interrupted", "stopped") else ""))
            return
        time.sleep(0.5)
