"""Run folders: `runs/<time>-<preset>/` with the resolved preset, `metrics.jsonl` (one event per
line, appended and flushed as it happens), `summary.json` (written atomically) and the weights.

Readers tolerate what a killed writer leaves: no summary yet, or a half-written last line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, TrainingFailure
from ..events import BatchProgress, Event, RunEnded, event_from_dict, printable
from .lock import FolderLock


class RunFolderError(TrainingFailure):
    """The run folder cannot be written (disk full, permissions): the run fails, cleanly."""

    def __init__(self, path: Path, err: OSError) -> None:
        super().__init__(f"cannot write {path}: {err.strerror or err}", "failed")


def strict(value: Any) -> Any:
    """NaN and infinities as null, so every line is JSON that any parser reads (not only
    Python's, which accepts the non-standard NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = None) -> str:
    try:  # most lines hold no NaN: written at once, without walking them first
        return json.dumps(value, indent=indent, allow_nan=False)
    except ValueError:
        return json.dumps(strict(value), indent=indent, allow_nan=False)


def safe_name(name: str) -> str:
    """A folder-name part that cannot escape the runs directory or hide a path."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")[:60]
    return cleaned or "run"


def new_run_dir(runs_dir: Path, preset_name: str) -> Path:
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(preset_name)}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = runs_dir / (stem if n == 1 else f"{stem}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as err:  # a file in the way, no permission, a read-only or full disk
        raise InputError(f"runs directory '{runs_dir}': cannot create a run folder there "
                         f"({err.strerror or err}); pick another with --runs-dir") from None
    raise InputError(f"runs directory '{runs_dir}': too many runs named {stem}")


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file and rename: a reader never sees half a file, even when the writer
    is killed. (No fsync: that guards against power loss, at milliseconds per write.)"""
    replace_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def replace_atomic(path: Path, write: Any, suffix: str = ".tmp") -> None:
    """`write(tmp)` then rename over `path`; on a failed write (disk full) the temporary file is
    removed and the run fails with one line. `suffix` keeps a format's extension (np.savez adds
    .npz to names without it)."""
    tmp = path.with_name(f".{path.stem if suffix != '.tmp' else path.name}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:  # any failure (an exporter's error too) leaves no temporary file
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError):
            raise RunFolderError(path, err) from None
        raise


class RunWriter:
    """Subscribes to the engine's events and keeps the run folder up to date."""

    def __init__(self, run_dir: Path, fresh: bool = False, lock: FolderLock | None = None) -> None:
        """`fresh`: start metrics.jsonl anew (a resumed run replays what it keeps) and drop the
        old summary, so readers see the run as running again."""
        self.dir = run_dir
        # Taken before anything is changed: a second writer (two resumes, or a resume while the
        # run still trains) is refused with the folder untouched.
        self.lock = lock or FolderLock(run_dir)
        if fresh:
            for name in ("metrics.jsonl", "summary.json"):
                with contextlib.suppress(FileNotFoundError):
                    (run_dir / name).unlink()
        try:
            (run_dir / "weights").mkdir(exist_ok=True)
            # Unbuffered: each line is one os.write, so a failed write can be cut back exactly.
            self._fd = os.open(run_dir / "metrics.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            self.lock.release()
            raise RunFolderError(run_dir, err) from None
        self.broken = False  # after a failed write, later events are not written (the run ends)

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress) or self.broken:
            return
        # One write per line, then flush: a killed process leaves whole lines behind it. A write
        # that fails (disk full) is cut back to the last whole line.
        line = (dumps(event.to_dict()) + "\n").encode("utf-8")
        good = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, line)
            if written < len(line):  # a full disk may take part of a line before refusing
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as err:
            self.broken = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, good)
            if not isinstance(event, RunEnded):  # the last event: nothing left to stop
                raise RunFolderError(self.dir / "metrics.jsonl", err) from None

    def write_preset(self, text: str) -> None:
        write_atomic(self.dir / "preset.toml", text)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.dir / "summary.json", dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self.lock.release()


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Whole JSON lines only: a last line without its newline may still be being written."""
    out = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def read_events(run_dir: Path) -> list[Event]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    return [e for e in map(event_from_dict, parse_lines(text)) if e is not None]


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary, or None when there is none yet; a file that is not a JSON object is
    `{"status": "unreadable"}` so lists show it instead of failing."""
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {"status": "unreadable", "message": "summary.json is not valid JSON"}
    if not isinstance(data, dict):
        return {"status": "unreadable", "message": "summary.json is not a JSON object"}
    return printable(data)


class EventFollower:
    """Reads new whole lines of `metrics.jsonl` as another process appends them."""

    def __init__(self, run_dir: Path, name: str = "metrics.jsonl") -> None:
        self.path = run_dir / name
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


def writer_alive(run_dir: Path, pid: int, log: str = "metrics.jsonl") -> bool:
    """Whether the process writing a run may still add to it: its pid when known (same machine),
    else a log file that grew in the last minute."""
    if log == "metrics.jsonl" and (run_dir / "summary.json").exists():
        return True
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _is_zombie(pid)
    metrics = run_dir / log
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
    seconds: float = 0.0
    epochs: int = 0  # the most epochs any training of the run ran
    params: int = 0


def write_curves_csv(run_dir: Path) -> Path:
    """Every epoch of every training as `curves.csv` (repeat, fold, epoch, train_*, val_*), for
    spreadsheets and plotting tools; the final fit is fold -1."""
    import csv

    from ..events import EpochEnded

    epochs = [e for e in read_events(run_dir) if isinstance(e, EpochEnded)]
    train_keys = sorted({k for e in epochs for k in e.train})
    val_keys = sorted({k for e in epochs for k in e.val})
    path = run_dir / "curves.csv"
    tmp = path.with_name(".curves.csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["repeat", "fold", "epoch", *[f"train_{k}" for k in train_keys],
                      *[f"val_{k}" for k in val_keys]])
        for e in epochs:
            out.writerow([e.repeat, e.fold, e.epoch, *[e.train.get(k, "") for k in train_keys],
                          *["" if e.val.get(k) != e.val.get(k) else e.val.get(k, "") for k in val_keys]])
    os.replace(tmp, path)
    return path
