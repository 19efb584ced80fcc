"""Shared helpers: small presets written to tmp files, and a way to run the CLI."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

BINARY: dict[str, Any] = {
    "name": "tiny-binary",
    "description": "a small binary preset for tests",
    "data": {"source": "builtin:breast_cancer"},
    "model": {"layers": [
        {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dense", "units": 1, "activation": "sigmoid"},
    ]},
    "train": {"loss": "binary_crossentropy", "metrics": ["accuracy"], "epochs": 3,
              "batch_size": 32, "seed": 0, "device": "cpu"},
    "validation": {"scheme": "holdout", "val_fraction": 0.2},
}

REGRESSION: dict[str, Any] = {
    "name": "tiny-regression",
    "data": {"source": "builtin:diabetes"},
    "model": {"layers": [
        {"type": "Dense", "units": 8, "activation": "relu"},
        {"type": "Dense", "units": 1},
    ]},
    "train": {"loss": "mse", "metrics": ["mae"], "epochs": 3, "batch_size": 16,
              "learning_rate": 0.01, "device": "cpu"},
    "validation": {"scheme": "kfold", "k": 4},
}


def preset(base: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with some section keys replaced."""
    out = copy.deepcopy(base)
    for name, values in sections.items():
        if isinstance(values, dict):
            out.setdefault(name, {}).update(values)
        else:
            out[name] = values
    return out


@pytest.fixture(params=["pyarrow", "pandas"])
def csv_reader(request, monkeypatch) -> str:
    """Both typed passes of the CSV reader: pyarrow's (small files) and pandas' (from
    PANDAS_BYTES up), so every data rule is checked on each."""
    from dltui.engine.data.tables import typed_pass

    monkeypatch.setattr(typed_pass, "PANDAS_BYTES", 0 if request.param == "pandas" else 1 << 62)
    return request.param


@pytest.fixture
def write_preset(tmp_path: Path):
    def write(data: dict[str, Any] | str, name: str = "p.toml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else tomli_w.dumps(data))
        return path
    return write


def dltui(*args: str, cwd: Path | None = None, timeout: float = 120,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `dltui` in a subprocess, as a user would."""
    full_env = {**os.environ, "CI": "true", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dltui.tui", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=full_env)


def cli(*argv: str) -> tuple[int, str, str]:
    """The real `dltui` entry point (main, with its one-line errors and exit codes) run in this
    process: (exit code, stdout, stderr). For the many one-line-refusal cases, where a process per
    case would cost seconds each; locks, signals and fresh imports keep using `dltui()`."""
    import contextlib
    import io

    from dltui.tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["dltui", *argv]
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


class PeakGrowth:
    """How far this process's resident memory rises above where it stood when the block
    began. The kernel's high-water mark is reset first (writing 5 to /proc/self/clear_refs), so
    a peak an earlier test reached cannot hide this block's; where that is not allowed, the
    process's lifetime peak is used (then only growth beyond it shows)."""

    def __enter__(self) -> PeakGrowth:
        self.reset = True
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.reset = False
        self.start = _current_mb() if self.reset else _hwm_mb()
        self.mb = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = _hwm_mb() - self.start


def _current_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        return int(next(x for x in fh if x.startswith("VmHWM:")).split()[1]) / 1024


async def until(pilot: Any, condition: Any, seconds: float = 5.0) -> None:
    """Let the app run until `condition()` holds (a loaded machine needs more than one short
    pause for a change to go through the form), or fail after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the app never got there"
        await pilot.pause(0.05)
