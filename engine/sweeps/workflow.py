"""The book's universal workflow (ch. 4) as one run: a common-sense baseline, a first model that
beats it, scaling up until the model overfits, the remedies compared side by side, a final fit
tested once. Each step that trains is a sweep (its variants stacked where they can be) on the
same splits; the workflow folder holds one sweep folder per step and `workflow.json` (what each
step tried, its numbers, its choice and the book's reason), rewritten after every step, so a
stop keeps every finished step and `dltui resume` continues with the next.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..events import Event, StopToken, VariantEnded
from ..runs.folder import dumps, new_run_dir, write_atomic
from . import workflow_rules as rules

STEPS = ("baseline", "first model", "scale up", "regularise", "final fit")
WORKFLOW_FILE = "workflow.json"
Say = Callable[[str], None]


@dataclass(frozen=True)
class Budget:
    seconds: float | None = None
    trainings: int | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
        if not m:
            raise InputError(f"--budget {text}: a time (90s, 5m, 1h) or a number of trainings (40)")
        value, unit = float(m.group(1)), m.group(2)
        if not unit:
            return cls(trainings=max(1, int(value)))
        return cls(seconds=value * {"s": 1, "m": 60, "h": 3600}[unit])

    def describe(self) -> str:
        if self.trainings:
            return f"{self.trainings} trainings"
        return f"{self.seconds / 60:g} min" if self.seconds else "unlimited"


class Workflow:
    def __init__(self, raw: dict[str, Any], base_dir: Path | None, runs_dir: Path,
                 device: str | None, say: Say, stop: StopToken, budget: Budget,
                 folder: Path | None = None) -> None:
        self.base_dir, self.device, self.say, self.stop, self.budget = base_dir, device, say, stop, budget
        if folder is not None:  # resume
            self.folder = folder
            self.state = json.loads((folder / WORKFLOW_FILE).read_text(encoding="utf-8"))
            self.state["steps"] = [s for s in self.state["steps"] if s["status"] == "done"]
        else:
            raw = copy.deepcopy(raw)
            raw.pop("sweep", None)
            validation = raw.setdefault("validation", {})
            # The test part is set aside before the first step and seen once, at the end.
            validation.setdefault("test_fraction", 0.2)
            validation["final_fit"] = False
            self.folder = new_run_dir(runs_dir, f"workflow-{raw.get('name', 'model')}")
            self.state = {"version": 1, "preset": raw, "budget": budget.describe(),
                          "limits": {"seconds": budget.seconds, "trainings": budget.trainings},
                          "steps": [],
                          "status": "running", "current": raw, "trainings": 0, "seconds": 0.0}
        self.started = time.perf_counter() - self.state["seconds"]

    # -- bookkeeping ------------------------------------------------------------------------
    def save(self) -> None:
        self.state["seconds"] = time.perf_counter() - self.started
        self.state["pid"] = os.getpid()  # a reader can tell a killed workflow from a running one
        write_atomic(self.folder / WORKFLOW_FILE, dumps(self.state, indent=2) + "\n")

    def done(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.state["steps"] if s["name"] == name), None)

    def record(self, step: dict[str, Any]) -> None:
        self.state["steps"].append(step)
        self.say(f"[{step['name']}] {step['why']}")
        self.save()

    def affordable(self, trainings: int) -> str | None:
        """Why a step of `trainings` does not fit the budget, or None."""
        b, used = self.budget, self.state["trainings"]
        if b.trainings is not None and used + trainings > b.trainings:
            return f"{trainings} trainings would exceed the budget ({used} of {b.trainings} used)"
        if b.seconds is not None and used:
            per = self.state["seconds"] / used
            left = b.seconds - (time.perf_counter() - self.started)
            if per * trainings > left:
                return (f"about {per * trainings:.0f} s for {trainings} trainings, "
                        f"{max(0, left):.0f} s of the budget left")
        return None

    # -- the steps --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from ..preflight import prepare
        from ..presets import validate_preset

        prep = prepare(validate_preset(self.state["preset"], "workflow"), self.base_dir, self.device)
        self.folds = len(prep.plan.splits)
        self.metric = prep.primary_metric
        self.say(f"workflow {self.folder}: {prep.preset.name}, {prep.data.describe()}; "
                 f"{prep.preset.validation.scheme} ({self.folds} training(s) per model); "
                 f"budget {self.budget.describe()}: first model {self.folds}, scale up up to "
                 f"{6 * self.folds}, regularise {6 * self.folds}, final fit 1 training(s)")
        for name, step in (("baseline", lambda: self._baseline(prep)),
                           ("first model", self._first_model), ("scale up", self._scale_up),
                           ("regularise", self._regularise), ("final fit", self._final_fit)):
            if self.done(name):
                continue
            if self.stop.requested:
                break
            self.state["running"] = name
            self.save()
            outcome = step()
            self.state.pop("running", None)
            if outcome in ("stop", "stopped"):
                self.state["status"] = "stopped" if outcome == "stopped" else "baseline not beaten"
                self.save()
                return self.state
        self.state["status"] = "stopped" if self.stop.requested else "done"
        self.save()
        return self.state

    def _baseline(self, prep: Any) -> str:
        base = rules.baseline(prep)
        self.record({"name": "baseline", "status": "done", "tried": [base], "choice": base,
                     "why": f"the common-sense baseline ({base['what']}) scores "
                            f"{base['metric']} {base['score']:.4g} on the validation parts: any "
                            "model must beat it to be worth anything"})
        return "ok"

    def _sweep(self, name: str, variants: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """Train `variants` of the current preset as one sweep in the workflow folder."""
        from .plan import plan_sweep
        from .runner import SweepRunner

        raw = {**copy.deepcopy(self.state["current"]), "sweep": {"variants": variants}}
        raw["name"] = re.sub(r"[^A-Za-z0-9_-]+", "-", name)
        plan = plan_sweep(raw, f"workflow step {name}")

        def relay(event: Event) -> None:
            if isinstance(event, VariantEnded):
                score = "" if event.mean is None else f" {event.metric} {event.mean:.4g}"
                self.say(f"  {event.label}: {event.status}{score}, best epoch {event.best_epoch}")

        runner = SweepRunner(plan, self.folder, self.base_dir, self.device, relay, self.stop)
        result = runner.run()
        self.state["trainings"] += len(variants) * self.folds
        rows = sorted(result["ranking"], key=lambda r: r["index"])
        for row in rows:
            row["raw"] = next(v.preset.model_dump(mode="json", exclude_none=True)
                              for v in plan.variants if v.index == row["index"])
            row["raw"].pop("sweep", None)
        return result["status"], rows

    def _first_model(self) -> str:
        base = self.done("baseline")["choice"]  # type: ignore[index]
        status, rows = self._sweep("first model", [{"name": "first model"}])
        if status == "stopped":
            return "stopped"
        score = rows[0]["mean"]
        ok = rules.beats(self._fold_scores(rows[0]), base)
        self.record({"name": "first model", "status": "done", "tried": rows, "choice": rows[0],
                     "beats_baseline": ok,
                     "why": (f"the first model scores {self.metric} {score:.4g} against the "
                             f"baseline's {base['score']:.4g}: it has statistical power"
                             if ok else "no model beat the baseline: check the data and target "
                             f"({self.metric} {score if score is None else f'{score:.4g}'} "
                             f"against {base['score']:.4g})")})
        if ok:  # now a training's cost is known: what the rest will take
            per = (time.perf_counter() - self.started) / max(1, self.state["trainings"])
            rest = 12 * self.folds + self.folds + 1
            self.say(f"estimate: about {per:.1f} s per training; scale up, regularise and the "
                     f"final fit are up to {rest} trainings, about {per * rest:.0f} s "
                     f"(budget {self.budget.describe()})")
        return "ok" if ok else "stop"

    def _fold_scores(self, row: dict[str, Any]) -> list[float]:
        """Each fold's validation score at its best epoch, in the splits' order."""
        try:
            summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            return []
        folds = sorted(summary.get("folds", []), key=lambda f: (f["repeat"], f["fold"]))
        return [float(f["best"].get(self.metric, float("nan"))) for f in folds]

    def _scale_up(self) -> str:
        first = self.done("first model")["choice"]  # type: ignore[index]
        current, tried, chosen = self.state["current"], [], None
        for round_ in (1, 2):
            variants = rules.scale_up_variants(current, round_)
            why_not = self.affordable(len(variants) * self.folds)
            if why_not:
                break
            status, rows = self._sweep(f"scale up {round_}", variants)
            if status == "stopped":
                return "stopped"
            tried += rows
            overfit = []
            for row in rows:
                turn = rules.overfit_epoch(row, row["raw"]["train"].get("epochs", 20))
                if turn is not None and row.get("mean") is not None:
                    row["overfits_at"] = turn
                    overfit.append(row)
            if overfit:  # of the sizes that overfit, the one that validates best
                sign = 1 if self.metric in rules.LOWER_IS_BETTER else -1
                chosen = min(overfit, key=lambda r: sign * r["mean"])
                break
        if not tried:
            self.record({"name": "scale up", "status": "skipped", "tried": [], "choice": first,
                         "why": f"skipped: {why_not}; the first model goes on as it is"})
            return "ok"
        if chosen is None:  # nothing overfit: go on with the best-scoring, and say so
            scored = [r for r in tried if r.get("mean") is not None] or tried
            chosen = max(scored, key=lambda r: -r["mean"] if self.metric in rules.LOWER_IS_BETTER
                         else r["mean"])
            why = (f"no variant overfit within {len(tried)} tried: the validation curves still "
                   f"improve at their last epoch; going on with '{chosen['label']}' (train longer "
                   "or bigger when the budget allows)")
        else:
            why = (f"'{chosen['label']}' overfits: its averaged validation loss turns up after "
                   f"epoch {chosen['overfits_at']} (now the remedies can be compared)")
        self.state["current"] = chosen["raw"]
        self.record({"name": "scale up", "status": "done", "tried": tried, "choice": chosen,
                     "why": why})
        return "ok"

    def _regularise(self) -> str:
        start = self.done("scale up")["choice"]  # type: ignore[index]
        turn = start.get("overfits_at") or start.get("best_epoch") or 1
        variants = rules.regularise_variants(self.state["current"], int(turn))
        why_not = self.affordable(len(variants) * self.folds)
        if why_not:
            self.record({"name": "regularise", "status": "skipped", "tried": [], "choice": start,
                         "why": f"skipped: {why_not}"})
            return "ok"
        status, rows = self._sweep("regularise", variants)
        if status == "stopped":
            return "stopped"
        scored = [r for r in rows if r.get("mean") is not None] or rows
        sign = 1 if self.metric in rules.LOWER_IS_BETTER else -1
        chosen = min(scored, key=lambda r: sign * r["mean"])
        self.state["current"] = chosen["raw"]
        self.record({"name": "regularise", "status": "done", "tried": rows, "choice": chosen,
                     "why": f"'{chosen['label']}' validates best ({self.metric} "
                            f"{chosen['mean']:.4g}, best epoch {chosen['best_epoch']}) of "
                            f"{len(rows)} remedies compared on the same folds"})
        return "ok"

    def _final_fit(self) -> str:
        from ..preflight import prepare
        from ..presets import preset_to_toml, validate_preset
        from ..train.experiment import Experiment

        last = next(s for s in reversed(self.state["steps"]) if s.get("choice"))["choice"]
        raw = copy.deepcopy(self.state["current"])
        # The same folds and seeds train again to the same averaged curve, whose best epoch the
        # final fit then trains for (the chosen variant's own best epoch).
        raw["validation"]["final_fit"] = True
        raw["name"] = f"{self.state['preset'].get('name', 'model')}-chosen"
        preset = validate_preset(raw, "workflow final fit")
        (self.folder / "chosen.toml").write_text(preset_to_toml(preset), encoding="utf-8")
        summary = Experiment(prepare(preset, self.base_dir, self.device), self.folder).run()
        self.state["trainings"] += self.folds + 1
        if summary.get("status") == "stopped":
            return "stopped"
        test = (summary.get("final_fit") or {}).get("test") or summary.get("test") or {}
        epochs = (summary.get("averaged_curve") or {}).get("best_epoch") or raw["train"]["epochs"]
        self.state["chosen_preset"] = str(self.folder / "chosen.toml")
        self.state["test"] = test
        score = test.get(self.metric)
        self.record({"name": "final fit", "status": "done", "tried": [], "choice": {
            "label": last.get("label", ""), "epochs": epochs, "test": test},
            "why": f"trained on all non-test data for {epochs} epochs and tested once: "
                   f"test {self.metric} {score if score is None else f'{score:.4g}'}; the "
                   f"preset is {self.folder / 'chosen.toml'}"})
        return "ok"


def is_workflow(path: Path) -> bool:
    return (path / WORKFLOW_FILE).is_file()


def step_sweeps(step: dict[str, Any]) -> list[str]:
    """The sweep folders a step trained in: its variants' run folders sit inside them (the
    running step, not yet recorded, carries them as `sweep_dirs`)."""
    if "sweep_dirs" in step:
        return step["sweep_dirs"]
    dirs = {str(Path(r["run_dir"]).parent) for r in step.get("tried", []) if r.get("run_dir")}
    return sorted(dirs)


def read_workflow(folder: Path) -> dict[str, Any]:
    """A workflow folder as its readers show it: the steps done, and the one under way (its
    newest sweep folder) or `interrupted` when the writing process is gone."""
    from ..runs.folder import writer_alive

    try:
        state = json.loads((folder / WORKFLOW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"status": "unreadable", "steps": []}
    running = state.get("running")
    if state.get("status") == "running" and not writer_alive(folder, state.get("pid", 0),
                                                             WORKFLOW_FILE):
        state["status"] = "interrupted"
    if running:
        known = {d for s in state["steps"] for d in step_sweeps(s)}
        fresh = sorted(str(p) for p in folder.iterdir() if (p / "sweep.jsonl").exists()
                       and str(p) not in known)
        state["steps"].append({"name": running, "status": "running" if state["status"] ==
                               "running" else "interrupted", "why": "", "sweep_dirs": fresh})
    return state
