"""The layout's rules, read from the source with ast: no import circles (imports inside functions
and under TYPE_CHECKING count too), the engine imports no UI library, stacking never imports the
experiment, imports inside a package are relative, and the engine's docstring example runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"dltui.engine": ROOT / "engine", "dltui.tui": ROOT / "tui"}
UI_LIBRARIES = ("textual", "rich", "typer", "textual_plotext", "plotext")


def modules() -> dict[str, Path]:
    """Every module of dltui's packages by its dotted name."""
    out: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported module, line, was relative) for every import in the file, anywhere in it.
    `from pkg import name` counts as importing `pkg.name` when that is a module."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno, bool(node.level)))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {target for target, _, _ in imports_of(name, path, known)
                       if target in known and target != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_anywhere_in_dltui():
    assert cycles(graph()) == []


def test_the_circle_finder_sees_a_circle_made_by_a_function_level_import():
    edges = graph()
    edges["dltui.engine.errors"] = edges["dltui.engine.errors"] | {"dltui.engine.preflight"}
    assert any("dltui.engine.errors" in c and "dltui.engine.preflight" in c for c in cycles(edges))


def test_the_engine_imports_no_ui_library():
    known = modules()
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                 for name, path in known.items() if name.startswith("dltui.engine")
                 for target, line, _ in imports_of(name, path, known)
                 if target.split(".")[0] in UI_LIBRARIES or target.startswith("dltui.tui")]
    assert offenders == []


def test_stacking_never_imports_the_experiment():
    edges = graph()
    stacking = [m for m in edges if m.startswith("dltui.engine.stacking")]
    assert stacking
    for module in stacking:
        assert "dltui.engine.train.experiment" not in edges[module], module


def test_imports_inside_a_package_are_relative():
    """With the package-dir mapping `dltui.engine.x` names no path on disk; a relative import
    does. The tui imports the engine by its public name, its own modules relatively."""
    known = modules()
    offenders = []
    for name, path in known.items():
        own = ".".join(name.split(".")[:2])
        for target, line, relative in imports_of(name, path, known):
            if target.startswith(own) and not relative:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert offenders == []


def test_the_engine_is_laid_out_in_small_wings():
    top = sorted(p.name for p in (ROOT / "engine").glob("*.py"))
    assert len(top) <= 8, top
    long = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("tui/**/*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_every_engine_package_is_listed_for_setuptools():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages <= listed, packages - listed


def engine_docstring_example() -> str:
    import dltui.engine

    doc = dltui.engine.__doc__ or ""
    lines = [line[4:] for line in doc.splitlines() if line.startswith("    ")]
    assert lines, "the engine's docstring has no indented example"
    return "\n".join(lines)


@pytest.mark.slow
def test_the_engine_docstring_example_runs_as_written(tmp_path):
    """Word for word, in a fresh interpreter, from an empty folder (a notebook user's first cell)."""
    code = engine_docstring_example()
    assert "load_run" in code and "Experiment" in code
    check = ("\nassert summary['status'] == 'done', summary\n"
             "assert len(predictions.labels) == 5\n"
             "print('predicted', predictions.labels)\n")
    done = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ""}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "predicted" in done.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 1
