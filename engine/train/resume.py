"""Resuming a run in its own folder: which trainings finished (their model saved complete), how far
each unfinished one got (its checkpoint's epoch), and the events to keep so that the resumed
`metrics.jsonl` reads as one uninterrupted run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..events import EpochEnded, Event, FoldEnded, FoldStarted, Notice
from ..runs.folder import read_events, read_summary
from .loop import FoldInfo, FoldOutcome

CHECKPOINTS = "checkpoints"


@dataclass
class ResumeState:
    kept: list[Event] = field(default_factory=list)  # replayed into the fresh metrics.jsonl
    done: dict[tuple[int, int], tuple[FoldOutcome, dict[str, float]]] = field(default_factory=dict)


def split_tag(repeat: int, fold: int) -> str:
    return "final" if fold < 0 else f"r{repeat}-f{fold}"


def group_tag(members: list[tuple[int, int]]) -> str:
    """One checkpoint per trained group: a lone split by its name, stacked folds by their first."""
    r, f = members[0]
    return split_tag(r, f) if len(members) == 1 else f"group-r{r}-f{f}-{len(members)}"


def checkpoint_epoch(run_dir: Path, tag: str) -> int:
    """The epoch a checkpoint reached (0: none); one another version wrote is refused here,
    before the run folder is touched."""
    from safetensors import safe_open

    from .checkpoints import check_version

    path = run_dir / CHECKPOINTS / f"{tag}.safetensors"
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["dltui"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return 0
    check_version(meta, path)
    try:
        return int(meta["epoch"])
    except (KeyError, TypeError, ValueError):
        return 0


def resume_state(run_dir: Path, tags: dict[tuple[int, int], str]) -> ResumeState:
    """`tags` maps each (repeat, fold) that will train (the final fit as (-1, -1)) to its
    checkpoint tag."""
    summary = read_summary(run_dir)
    if summary and summary.get("status") == "done":
        raise InputError(f"{run_dir}: the run is done; nothing to resume")
    try:
        card = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
        models = card.get("models", {}) if isinstance(card, dict) else {}
    except (OSError, json.JSONDecodeError):
        models = {}
    complete = {name for name, m in models.items() if isinstance(m, dict) and m.get("complete")}
    state = ResumeState()
    history: dict[tuple[int, int], list[tuple[dict[str, float], dict[str, float]]]] = {}
    reached_by_tag: dict[str, int] = {}
    for e in read_events(run_dir):
        if isinstance(e, Notice):
            if e.code != "resumed":
                state.kept.append(e)
            continue
        if not isinstance(e, FoldStarted | EpochEnded | FoldEnded):
            continue  # run_started and run_ended are written afresh
        key = (e.repeat, e.fold)
        finished = split_tag(*key) in complete
        tag = tags.get(key, split_tag(*key))
        if tag not in reached_by_tag:  # one read per checkpoint, not one per event
            reached_by_tag[tag] = checkpoint_epoch(run_dir, tag)
        reached = reached_by_tag[tag]
        if isinstance(e, EpochEnded):
            if not finished and e.epoch > reached:
                continue
            history.setdefault(key, []).append((e.train, e.val))
        elif isinstance(e, FoldEnded):
            if not finished:
                continue
            out = FoldOutcome(FoldInfo(e.repeat, e.fold, e.train_size, e.val_size),
                              history.get(key, []), e.best_epoch)
            state.done[key] = (out, dict(e.test))
        elif not finished and not reached:
            continue
        state.kept.append(e)
    return state
