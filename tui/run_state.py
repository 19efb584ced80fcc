"""What the live view knows about a run, rebuilt from engine events alone, so a run trained in the
app, followed from another process or replayed from its folder all look the same."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltui.engine.events import (
    BatchProgress,
    EpochEnded,
    Event,
    FoldEnded,
    FoldStarted,
    Notice,
    RunEnded,
    RunStarted,
)
from dltui.engine.runs.folder import read_events


@dataclass
class FoldCurves:
    repeat: int
    fold: int
    train: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    ended: FoldEnded | None = None

    def best_epoch(self) -> int:
        """1-based epoch of the lowest validation loss so far (0 when none)."""
        losses = [v.get("loss", float("inf")) for v in self.val]
        finite = [x for x in losses if x == x]
        return losses.index(min(finite)) + 1 if finite else 0


@dataclass
class RunState:
    started: RunStarted | None = None
    folds: dict[tuple[int, int], FoldCurves] = field(default_factory=dict)
    current: tuple[int, int] | None = None
    notices: list[Notice] = field(default_factory=list)
    ended: RunEnded | None = None
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    samples_per_s: float = 0.0
    lr: float | None = None  # the latest epoch's rate (it moves under train.lr_schedule)
    clock_start: float = field(default_factory=time.monotonic)
    epoch_seconds: list[float] = field(default_factory=list)
    epochs_done: int = 0  # training-epochs over all trainings (a stacked epoch counts K)
    eta: float | None = None  # the smoothed remaining-time estimate, seconds
    eta_at: float = 0.0
    stopped_at: str = ""  # where a stop request ended the run
    stopping: bool = False  # a stop was asked for and the run has not ended yet
    version: int = 0  # bumped on every change: the view redraws only when it moved

    def apply(self, event: Event) -> None:
        self.version += 1
        if isinstance(event, RunStarted):
            self.started, self.epochs = event, event.epochs
        elif isinstance(event, Notice):
            self.notices.append(event)
        elif isinstance(event, FoldStarted):
            key = (event.repeat, event.fold)
            self.folds.setdefault(key, FoldCurves(event.repeat, event.fold))
            self.current = key
            self.epoch = 0
        elif isinstance(event, BatchProgress):
            self.batch, self.batches = event.batch, event.batches
        elif isinstance(event, EpochEnded):
            key = (event.repeat, event.fold)
            curves = self.folds.setdefault(key, FoldCurves(event.repeat, event.fold))
            curves.train.append(event.train)
            curves.val.append(event.val)
            self.current = self.current or key
            self.epoch, self.epochs = event.epoch, event.epochs
            self.batch = self.batches
            self.samples_per_s = event.samples_per_s
            self.lr = event.lr if event.lr is not None else self.lr
            self.epoch_seconds.append(event.seconds)
            if event.fold >= 0:
                self.epochs_done += 1
                self._update_eta()
        elif isinstance(event, FoldEnded):
            key = (event.repeat, event.fold)
            self.folds.setdefault(key, FoldCurves(event.repeat, event.fold)).ended = event
        elif isinstance(event, RunEnded):
            self.ended = event
            if event.status in ("stopped", "interrupted") and self.current is not None:
                r, f = self.current
                where = "the final fit" if f < 0 else f"repeat {r} fold {f}"
                self.stopped_at = f"stopped in {where} after epoch {self.epoch}"

    def elapsed(self) -> float:
        """Seconds since the run started: from the run's own clock when it says (a `watch`
        attached late counts from the run's start, not its own)."""
        if self.ended:
            return self.ended.seconds
        if self.started and self.started.started_at:
            return max(0.0, time.time() - self.started.started_at)
        return time.monotonic() - self.clock_start

    def _update_eta(self) -> None:
        """Remaining time = the validation trainings' epochs still to run at the recent pace,
        blended into the previous estimate (minus the time since), so one slow or fast epoch,
        or a stacked group finishing at once, does not make it jump."""
        s = self.started
        if s is None:
            return
        total = s.trainings * s.epochs
        # The median of recent epochs: a stall or a slow first epoch does not set the pace.
        pace = statistics.median(self.epoch_seconds[-20:])
        if s.parallel:  # K stacked trainings share each epoch's seconds
            pace /= max(1, int(s.parallel.split()[0]))
        fresh = max(0, total - self.epochs_done) * pace
        now = time.monotonic()
        if self.eta is None or fresh == 0:
            self.eta = fresh
        else:
            carried = max(0.0, self.eta - (now - self.eta_at))
            self.eta = 0.5 * carried + 0.5 * fresh
        self.eta_at = now

    def remaining(self) -> float | None:
        if self.eta is None:
            return None
        if self.ended:
            return 0.0
        return max(0.0, self.eta - (time.monotonic() - self.eta_at))

    # -- derived views ----------------------------------------------------------------------
    @property
    def metric(self) -> str:
        metrics = self.started.metrics if self.started else []
        return metrics[0] if metrics else "loss"

    @property
    def status(self) -> str:
        if self.ended:
            return self.ended.status
        return "running" if self.started else "waiting"

    def finished_folds(self) -> list[FoldCurves]:
        return sorted((f for f in self.folds.values() if f.ended and f.fold >= 0),
                      key=lambda f: (f.repeat, f.fold))

    def current_curves(self) -> FoldCurves | None:
        return self.folds.get(self.current) if self.current else None

    def fold_keys(self) -> list[tuple[int, int]]:
        """Every training so far, in order (the final fit, fold -1, last)."""
        return sorted(self.folds, key=lambda k: (k[1] < 0, k))

    def averaged_val(self, metric: str) -> list[float]:
        """The book's averaged validation curve over the folds finished so far, over the epochs
        every one of them reached (as the run's summary averages it: past the first fold to stop
        early, a mean would be of fewer folds)."""
        done = [f for f in self.finished_folds() if f.val]
        if len(done) < 2:
            return []
        out = []
        for e in range(min(len(f.val) for f in done)):
            seen = [f.val[e][metric] for f in done if metric in f.val[e]]
            if len(seen) < len(done):
                break
            out.append(statistics.fmean(seen))
        return out

    def progress_text(self) -> str:
        if not self.started:
            return "waiting for the run to start"
        s = self.started
        where = ""
        if self.current is not None:
            r, f = self.current
            where = "final fit" if f < 0 else f"repeat {r} fold {f}"
        done = len(self.finished_folds())
        left = self.remaining()
        remaining = "" if left is None or self.ended else f"  ~{left:.0f}s left"
        batch = f" batch {self.batch}/{self.batches}" if self.batches and not self.ended else ""
        status = self.stopped_at or self.status
        if self.stopping and not self.ended:
            status = "stopping after the current batch"
        threads = (f", {s.threads} thread{'s' if s.threads > 1 else ''}"
                   if s.threads and s.device == "cpu" else "")
        return (f"{status}  {where}  epoch {self.epoch}/{self.epochs}{batch}  "
                f"trainings {done}/{s.trainings}  {self.elapsed():.0f}s{remaining}  "
                f"{self.samples_per_s:,.0f} samples/s  device {s.device}{threads}"
                + (f"  lr {self.lr or s.learning_rate:.3g}" if self.lr or s.learning_rate
                   else ""))

    def headline(self, name: str) -> str:
        """One line for the header of every screen while this run trains here (htop-like):
        `training kfold-boston f2/4 epoch 37/100 ~12s left`."""
        if not self.started:
            return f"training {name}: starting"
        s = self.started
        where = ""
        if self.current is not None:
            _, f = self.current
            if f < 0:
                where = " final fit"
            elif s.trainings > 1:
                done = len(self.finished_folds())
                where = f" f{min(done + 1, s.trainings)}/{s.trainings}"
        left = self.remaining()
        eta = f" ~{left:.0f}s left" if left is not None else ""
        verb = "stopping" if self.stopping else "training"
        return f"{verb} {name}{where} epoch {self.epoch}/{self.epochs}{eta}"

    def table_rows(self) -> list[dict[str, Any]]:
        rows = []
        for f in self.finished_folds():
            e = f.ended
            assert e is not None
            rows.append({"repeat": e.repeat, "fold": e.fold, "train_size": e.train_size,
                         "val_size": e.val_size, "best_epoch": e.best_epoch, "best": e.best,
                         "last": e.last})
        return rows


def validation_curve(run_dir: Path, name: str | None = None) -> tuple[str, list[float]]:
    """A run's validation curve of `name` (its primary metric when None): the mean over its
    folds, or its one hold-out split."""
    state = RunState()
    for event in read_events(run_dir):
        state.apply(event)
    metric = name or state.metric
    avg = state.averaged_val(metric)
    if avg:
        return metric, avg
    folds = [f for f in state.folds.values() if f.fold >= 0 and f.val]
    return metric, [v.get(metric, float("nan")) for v in folds[0].val] if folds else []
