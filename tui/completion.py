"""Shell completion for `dltui --install-completion` (typer's): preset names and files, run
folders. Called by the shell on every Tab, so nothing here imports torch or the engine."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import typer


def shipped() -> dict[str, Path]:
    """The shipped presets by name, read from the package: the engine's preset module imports
    torch (2 s) for the layer types, and a list of names needs none of it."""
    root = importlib.resources.files("dltui.presets")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml")}


def presets(incomplete: str) -> list[str]:
    """Shipped preset names and the .toml files under the folder being typed."""
    shipped_names = sorted(shipped())
    folder = Path(incomplete).parent if "/" in incomplete else Path(".")
    try:
        files = sorted(str(p) if "/" in incomplete else p.name for p in folder.glob("*.toml"))
    except OSError:
        files = []
    return [c for c in [*shipped_names, *files] if c.startswith(incomplete)]


def runs(ctx: typer.Context, incomplete: str) -> list[str]:
    """`latest` and the run (and sweep) folders of --runs-dir, newest first."""
    root = Path(ctx.params.get("runs_dir") or "runs")
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name,
                         reverse=True)
    except OSError:
        folders = []
    names = ["latest", *(p.name for p in folders
                         if (p / "summary.json").exists() or (p / "metrics.jsonl").exists()
                         or (p / "sweep.jsonl").exists())]
    return [n for n in names if n.startswith(incomplete)]
