"""Resuming a run in its own folder: which trainings finished (their model saved complete), how far
each unfinished one got (its checkpoint's epoch), and the events to keep so that the resumed
`metrics.jsonl` reads as one uninterrupted run."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..events import EpochEnded, Event, FoldEnded, FoldStarted, Notice
from ..runs.folder import read_events, read_summary
from .loop import FoldInfo, FoldOutcome

if TYPE_CHECKING:
    from ..data.dataset import Dataset

CHECKPOINTS = "checkpoints"


@dataclass
class ResumeState:
    kept: list[Event] = field(default_factory=list)  # replayed into the fresh metrics.jsonl
    done: dict[tuple[int, int], tuple[FoldOutcome, dict[str, float]]] = field(default_factory=dict)
    # Unfinished trainings whose fold_started is kept: continuing them must not start them again.
    started: set[tuple[int, int]] = field(default_factory=set)


def split_tag(repeat: int, fold: int) -> str:
    return "final" if fold < 0 else f"r{repeat}-f{fold}"


def group_tag(members: list[tuple[int, int]]) -> str:
    """One checkpoint per trained group: a lone split by its name, stacked folds by their first."""
    r, f = members[0]
    return split_tag(r, f) if len(members) == 1 else f"group-r{r}-f{f}-{len(members)}"


def checkpoint_epoch(run_dir: Path, tag: str) -> tuple[int, str]:
    """The epoch a checkpoint reached (0: none), and what is wrong with it when it cannot be
    used (then its training restarts from the first epoch). One another version wrote is
    refused here, before the run folder is touched."""
    from safetensors import safe_open

    from .checkpoints import check_version

    path = run_dir / CHECKPOINTS / f"{tag}.safetensors"
    if not path.exists():
        return 0, ""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["dltui"])
            keys = set(fh.keys())
    except Exception as err:  # safetensors' own error, bad JSON, no metadata, a directory
        return 0, f"unreadable ({str(err).splitlines()[0][:80] if str(err) else type(err).__name__})"
    if not isinstance(meta, dict):
        return 0, "its metadata is not a table"
    check_version(meta, path)
    missing = [k for k in ("net.", "gen.0", "rng.cpu") if not any(x.startswith(k) for x in keys)]
    if missing or not {"epoch", "optimizer", "history"} <= set(meta):
        return 0, f"incomplete (no {missing[0] if missing else 'loop state'})"
    try:
        return int(meta["epoch"]), ""
    except (TypeError, ValueError):
        return 0, "its epoch is not a number"


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
            reached_by_tag[tag], problem = checkpoint_epoch(run_dir, tag)
            if problem:
                # Set aside (kept for a look, never loaded): the training starts afresh.
                bad = run_dir / CHECKPOINTS / f"{tag}.safetensors"
                with contextlib.suppress(OSError):
                    bad.replace(bad.with_name(f"{bad.name}.unusable"))
                state.kept.append(Notice("warning", "checkpoint", f"checkpoint {tag} is {problem}: "
                                         "its training restarts from the first epoch"))
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
        elif not finished:
            state.started.add(key)
        state.kept.append(e)
    return state


def same_data(run_dir: Path, data: Dataset, force: bool) -> Notice | None:
    """A resumed run trains on the data it started with: its finished folds and the rest would
    otherwise come from two data sets, and the summary would average them. With `force`, the
    notice that says it resumed anyway; None when the data is the same."""
    from ..runs.model_files import read_model_card

    try:
        stored = read_model_card(run_dir).get("data_fingerprint")
    except InputError:
        return None  # no card yet (killed before its first model): nothing trained to compare
    if stored is None or stored == data.fingerprint():
        return None
    if not force:
        raise InputError(f"{run_dir}: its data changed since the run started ({data.about}): "
                         "resuming would train it on two data sets; `dltui resume --force` "
                         "accepts the change (the summary says so)")
    return Notice("warning", "changed-data", "the data changed since this run started; resumed "
                  "anyway (--force): finished folds saw the old data")
