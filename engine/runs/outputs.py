"""Files a command writes for the user (`predict --out`, `export --out`): never over its own input,
never over a file of a run folder, never through a symlink, never half-written (a temporary file
in the same folder, renamed when whole), and an existing file replaced only when the user says so."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .folder import RunFolderError, replace_atomic

# What the run-folder contract owns: writing over one of these breaks the run.
RUN_FILES = {"model.json", "preset.toml", "metrics.jsonl", "summary.json", "sweep.json",
             "sweep.jsonl", ".writer.lock"}
RUN_PARTS = {"weights", "predictions", "checkpoints"}
MARKS = ("metrics.jsonl", "model.json", "sweep.jsonl")


def _in_run_folder(path: Path) -> Path | None:
    """The run folder whose own file `path` would be, or None."""
    parent = path.parent
    if path.name in RUN_FILES and any((parent / m).exists() for m in MARKS):
        return parent
    if parent.name in RUN_PARTS and any((parent.parent / m).exists() for m in MARKS):
        return parent.parent
    return None


def check_output(out: Path, inputs: list[Path], exists_ok: bool) -> None:
    """One line, exit 2, for an output that would destroy something; `exists_ok`: the user
    agreed to replace an existing file (asked on a terminal, or --force)."""
    if out.is_symlink():
        raise InputError(f"--out {out}: is a symbolic link; dltui does not write through links "
                         "(give the real path)")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: no folder {out.parent}")
    target = out.resolve()
    for source in inputs:
        with contextlib.suppress(OSError):
            if source.exists() and target == source.resolve():
                raise InputError(f"--out {out}: is the input file; write the output elsewhere")
    run = _in_run_folder(target)
    if run is not None:
        raise InputError(f"--out {out}: is a file of the run folder {run}; writing it would break "
                         "the run: write the output elsewhere")
    if out.exists() and not exists_ok:
        raise InputError(f"--out {out}: exists; --force replaces it")


def write_output(out: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` into a temporary file beside `out`, then rename over it (the run folder's own
    atomic write): a full disk or a crash leaves the old file (or none), never a partial one."""
    try:
        replace_atomic(out, write)
    except RunFolderError as err:
        raise InputError(f"--out {out}: {err}; nothing was written") from None
