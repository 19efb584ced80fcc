"""Running a sweep: every variant validated and prepared before the first trains, then trained
with its own validation scheme into its own run folder inside the sweep folder, here (one after
another, each variant's folds stacked) or elsewhere (`sweep_remote`: worker processes per GPU, or a
Ray cluster). `sweep.jsonl` records the sweep as it happens and `sweep.json` holds the ranked table.

Pruning (`prune = true`) is successive halving on the validation loss: at epochs E/8, E/4 and E/2 a
variant whose mean validation loss (over the folds that reached that epoch) is worse than the
median of the variants that reached it before is stopped and marked `pruned`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import (
    EpochEnded,
    Event,
    EventBus,
    RunEnded,
    RunStarted,
    StopToken,
    SweepEnded,
    SweepStarted,
    VariantEnded,
    VariantStarted,
)
from ..runs.folder import dumps, new_run_dir, write_atomic
from .plan import SweepPlan, Variant, rank

SWEEP_VERSION = 1
Inner = Callable[[Variant, Event], None]


@dataclass
class Pruner:
    """Successive halving on each variant's mean validation loss at the rung epochs."""

    epochs: int
    seen: dict[int, list[float]] = field(default_factory=dict)  # rung epoch -> earlier variants' losses

    @property
    def rungs(self) -> list[int]:
        return sorted({max(1, self.epochs // d) for d in (8, 4, 2)} - {self.epochs})

    def watch(self, stop: StopToken) -> tuple[Callable[[Event], None], dict[str, Any]]:
        at: dict[int, list[float]] = {}
        verdict: dict[str, Any] = {"pruned_at": 0}

        def on_event(event: Event) -> None:
            if not isinstance(event, EpochEnded) or event.fold < 0 or event.epoch not in self.rungs:
                return
            at.setdefault(event.epoch, []).append(event.val.get("loss", float("nan")))
            if (event.repeat, event.fold) != (0, 0) and len(at[event.epoch]) > 1:
                return
            value = statistics.fmean(at[event.epoch])
            earlier = self.seen.setdefault(event.epoch, [])
            if earlier and value > statistics.median(earlier) and not verdict["pruned_at"]:
                verdict["pruned_at"] = event.epoch
                stop.request()
            earlier.append(value)
        return on_event, verdict


class SweepRunner:
    def __init__(self, plan: SweepPlan, runs_dir: Path, base_dir: Path | None,
                 device: str | None, emit: Callable[[Event], None], stop: StopToken,
                 inner: Inner | None = None, stack_variants: bool = True) -> None:
        self.plan, self.runs_dir, self.base_dir, self.device = plan, runs_dir, base_dir, device
        self.stack_variants = stack_variants  # off: one variant after another (bench, debugging)
        self.emit_outer, self.stop, self.inner = emit, stop, inner
        self.rows: list[dict[str, Any]] = []
        self.dir: Path | None = None
        self._log: Any = None

    def prepare_all(self) -> list[Any]:
        """Every variant's data, shapes and loss checked before anything trains."""
        from ..errors import InputError
        from ..preflight import prepare

        out, loaded = [], {}
        for v in self.plan.variants:
            key = v.preset.data.model_dump_json()
            try:
                prep = prepare(v.preset, self.base_dir, self.device, data=loaded.get(key))
            except InputError as err:
                raise InputError(f"sweep variant {v.index} ({v.label}): {err}") from None
            loaded[key] = prep.data
            out.append(prep)
        return out

    def emit(self, event: Event) -> None:
        if self.dir is not None:
            self._log.write(dumps(event.to_dict()) + "\n")
            self._log.flush()
        self.emit_outer(event)

    def start(self, preps: list[Any]) -> Path:
        p = self.plan
        self.dir = new_run_dir(self.runs_dir, f"sweep-{p.base.name}")
        self._log = (self.dir / "sweep.jsonl").open("a", encoding="utf-8")
        trainings = sum(prep.plan.trainings for prep in preps)
        epochs = p.base.train.epochs
        self.emit(SweepStarted(str(self.dir), p.base.name, len(p.variants), trainings, epochs,
                               p.keys, p.mode, p.prune, preps[0].primary_metric if preps else "loss",
                               os.getpid(), time.time()))
        return self.dir

    def run(self, preps: list[Any] | None = None) -> dict[str, Any]:

        preps = preps if preps is not None else self.prepare_all()
        started = time.perf_counter()
        if self.dir is None:  # the app starts it first, to follow the folder at once
            self.start(preps)
        pruner = Pruner(self.plan.base.train.epochs) if self.plan.prune else None
        from ..stacking.variants import joint_groups

        for group in joint_groups(preps, self.plan.prune or not self.stack_variants):
            if self.stop.requested:
                break
            if len(group) == 1:
                self._run_alone(self.plan.variants[group[0]], preps[group[0]], pruner)
            else:
                self._run_jointly([self.plan.variants[i] for i in group], [preps[i] for i in group])
        return self.finish(started)

    def _experiment(self, variant: Variant, prep: Any, bus: EventBus, token: StopToken) -> Any:
        from ..train.experiment import Experiment

        if self.inner is not None:
            bus.subscribe(lambda e, v=variant: self.inner(v, e))  # type: ignore[misc]
        bus.subscribe(lambda e, t=token: t.request() if self.stop.requested else None)
        return Experiment(prep, self.dir, bus, token)

    def _run_alone(self, variant: Variant, prep: Any, pruner: Pruner | None) -> None:
        bus, token = EventBus(), StopToken()
        verdict: dict[str, Any] = {"pruned_at": 0}
        if pruner is not None:
            watch, verdict = pruner.watch(token)
            bus.subscribe(watch)
        experiment = self._experiment(variant, prep, bus, token)

        def started(event: Any) -> None:  # named with its folder, so a viewer can follow it
            if isinstance(event, RunStarted):
                self.emit(VariantStarted(variant.index, variant.label, variant.changes,
                                         event.run_dir))
        bus.subscribe(started)
        summary = experiment.run()
        self.finish_variant(variant, experiment.run_dir, summary, verdict["pruned_at"])

    def _run_jointly(self, variants: list[Variant], preps: list[Any]) -> None:
        """Variants that differ only in stackable settings: one stacked model for all of them
        and all their folds, each variant still its own run folder and summary."""
        from ..errors import TrainingFailure
        from ..stacking.variants import train_jointly

        experiments = []
        for variant, prep in zip(variants, preps, strict=True):
            experiment = self._experiment(variant, prep, EventBus(), StopToken())
            experiment.begin()
            self.emit(VariantStarted(variant.index, variant.label, variant.changes,
                                     str(experiment.run_dir)))
            experiments.append(experiment)
        try:
            train_jointly(experiments)
        except TrainingFailure as failure:  # out of memory: every variant of the group failed
            for experiment in experiments:
                experiment.failure = failure
        for variant, experiment in zip(variants, experiments, strict=True):
            experiment.note["stacked_with"] = [v.index for v in variants if v is not variant]
            summary = experiment.complete(None)
            self.finish_variant(variant, experiment.run_dir, summary)

    def finish_variant(self, variant: Variant, run_dir: Path | None, summary: dict[str, Any],
                       pruned_at: int = 0) -> dict[str, Any]:
        metric = summary.get("primary_metric", "loss")
        table = summary.get("kfold") or {}
        mean = (table.get("mean") or {}).get("best", {}).get(metric)
        std = (table.get("std") or {}).get("best", {}).get(metric)
        status = "pruned" if pruned_at else str(summary.get("status", "failed"))
        curve = summary.get("averaged_curve") or {}
        row = {"index": variant.index, "label": variant.label, "changes": variant.changes,
               "run_dir": str(run_dir) if run_dir else "", "status": status, "metric": metric,
               "mean": None if status in ("pruned", "failed", "diverged") else mean,
               "std": std, "best_epoch": curve.get("best_epoch") or summary.get("best_epoch"),
               # where validation loss turns up: the mean of the folds' lowest-val-loss epochs
               "val_loss_min_epoch": (table.get("mean") or {}).get("best_epoch"),
               "val_loss": (table.get("mean") or {}).get("best", {}).get("loss"),
               "curve": curve.get("values", []), "seconds": summary.get("seconds", 0.0),
               "message": summary.get("message", "") if not pruned_at else
               f"pruned at epoch {pruned_at}: validation loss worse than the median"}
        self.rows.append(row)
        self.emit(VariantEnded(variant.index, variant.label, status, metric, row["mean"],
                               row["std"], row["best_epoch"] or 0, float(row["seconds"]),
                               row["run_dir"]))
        self.write_table()
        return row

    def write_table(self) -> dict[str, Any]:
        assert self.dir is not None
        metric = self.rows[0]["metric"] if self.rows else "loss"
        table = {"version": SWEEP_VERSION, "preset": self.plan.base.name, "mode": self.plan.mode,
                 "keys": self.plan.keys, "metric": metric, "variants": len(self.plan.variants),
                 "ranking": rank(self.rows, metric)}
        write_atomic(self.dir / "sweep.json", dumps(table, indent=1) + "\n")
        return table

    def finish(self, started: float) -> dict[str, Any]:
        table = self.write_table()
        status = "stopped" if self.stop.requested else "done"
        best = next((r for r in table["ranking"] if r.get("mean") is not None), None)
        self.emit(SweepEnded(status, time.perf_counter() - started, table))
        self._log.close()
        return {"status": status, "dir": str(self.dir), "best": best, **table}


def ended(event: Event) -> bool:
    return isinstance(event, RunEnded | SweepEnded)
