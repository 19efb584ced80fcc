"""A run's curves as TensorBoard event files, laid out as Keras's TensorBoard callback writes
them, so TensorBoard overlays training and validation on one chart per quantity:

    OUT/r0-f0/train/       epoch_loss, epoch_mae, epoch_learning_rate
    OUT/r0-f0/validation/  epoch_loss, epoch_mae
    OUT/final/train/       the final fit (its own run)

A sweep folder gives one such tree per variant (OUT/v01-<label>/...) and each variant's settings
and score through TensorBoard's HParams plugin, so its dashboard compares the variants.
Exporting again replaces what an earlier export wrote (the whole tree is written beside OUT and
renamed over it), so points are never doubled.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..events import EpochEnded
from .folder import read_events

EVENTS = re.compile(r"^events\.out\.tfevents\.")


def _writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError("--format tensorboard needs TensorBoard: pip install 'dltui[tensorboard]'") from None
    return SummaryWriter


def _learning_rate(run_dir: Path) -> float | None:
    try:
        preset = tomllib.loads((run_dir / "preset.toml").read_text(encoding="utf-8"))
        return float(preset.get("train", {}).get("learning_rate", 1e-3))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, TypeError, ValueError):
        return None


def write_run(run_dir: Path, out: Path) -> int:
    """One run's trainings as TensorBoard runs under `out`; the number of epochs written."""
    writer_cls = _writer()
    writers: dict[tuple[str, str], Any] = {}
    constant_lr = _learning_rate(run_dir)
    written = 0
    for e in read_events(run_dir):
        if not isinstance(e, EpochEnded):
            continue
        tag = "final" if e.fold < 0 else f"r{e.repeat}-f{e.fold}"
        lr = getattr(e, "lr", None) or constant_lr
        for part, values in (("train", e.train), ("validation", e.val)):
            points = {k: v for k, v in values.items() if v == v}  # no NaN points
            if part == "train" and lr is not None:
                points["learning_rate"] = lr
            if not points:
                continue
            key = (tag, part)
            if key not in writers:
                writers[key] = writer_cls(log_dir=str(out / tag / part))
            for metric, value in points.items():
                writers[key].add_scalar(f"epoch_{metric}", value, e.epoch)
        written += 1
    for w in writers.values():
        w.close()
    return written


def write_sweep(sweep_dir: Path, out: Path) -> int:
    from .sweep_folder import sweep_table

    table = sweep_table(sweep_dir)
    if not table:
        raise InputError(f"{sweep_dir}: its sweep.json is missing or unreadable")
    writer_cls = _writer()
    written = 0
    for row in table.get("ranking", []):
        run_dir = Path(row.get("run_dir") or "")
        if not run_dir.is_dir():
            continue
        name = f"v{row['index']:02d}-" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", str(row["label"]))[:80]
        written += write_run(run_dir, out / name)
        hparams = {k.replace("model.layers", "layers"): (v if isinstance(v, int | float | str | bool)
                                                           else str(v))
                   for k, v in (row.get("changes") or {}).items()}
        metric = row.get("metric", "loss")
        scores = {f"hparam/val_{metric}": row["mean"]} if row.get("mean") is not None else {}
        if row.get("val_loss") is not None:
            scores["hparam/val_loss"] = row["val_loss"]
        writer = writer_cls(log_dir=str(out / name))
        writer.add_hparams(hparams or {"variant": name}, scores, run_name=".")
        writer.close()
    return written


def export_tensorboard(path: Path, out: Path, sweep: bool = False) -> Path:
    """`path` (a run folder, or a sweep folder when `sweep`) as event files in `out`, replacing
    an earlier export there; a folder holding anything else is refused."""
    out = out.absolute()
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        others = [p for p in out.rglob("*") if p.is_file() and not EVENTS.match(p.name)]
        if others:
            raise InputError(f"--out {out}: holds files that are not TensorBoard event files "
                             f"({others[0].name}, ...); give a new or empty folder")
    fresh = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        written = write_sweep(path, fresh) if sweep else write_run(path, fresh)
        if not written:
            raise InputError(f"{path}: no epochs to export")
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        if out.exists():
            out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return out
