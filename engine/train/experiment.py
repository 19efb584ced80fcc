"""A whole run: spec -> data -> splits -> models -> loop -> events -> run folder.

`prepare` does every check that can fail on bad input before anything is written; `Experiment.run`
trains every split (stacked when it can), aggregates the results and writes the summary.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing, any_nan, fit_preprocessing, target_array
from ..data.splits import Split, split_seed
from ..doctor.curves import advice
from ..errors import InputError, TrainingFailure
from ..events import (
    EpochEnded,
    Event,
    EventBus,
    FoldEnded,
    FoldStarted,
    Notice,
    RunEnded,
    RunStarted,
    StopToken,
)
from ..model.build import Net, build_model
from ..model.resources import too_big_for_device
from ..preflight import Prepared, chance_accuracy, chance_loss
from ..presets import preset_to_toml
from ..runs.folder import RunFolderError, RunWriter, new_run_dir
from ..runs.lock import FolderLock
from ..runs.model_files import ModelCardWriter, save_arrays
from ..runs.predictions import model_outputs
from ..stacking.folds import plan_groups, train_group
from .checkpoints import Checkpointer
from .loop import FoldInfo, FoldOutcome, Setup, SingleTrainee, SplitData, run_epochs
from .optimizers import make_optimizer
from .results import fold_row
from .resume import CHECKPOINTS, ResumeState, group_tag, resume_state, same_data
from .summary import headline, model_card, portable, summarise
from .threads import ContentionCheck, choose_threads

CURVE_CODES = {"overfitting", "instability", "underfitting", "no-learning"}


class Experiment:
    """One run of a prepared preset. Subscribe to `bus` before `run`; `stop` may be requested from
    another thread or a signal handler."""

    def __init__(self, prep: Prepared, runs_dir: Path | str = Path("runs"),
                 bus: EventBus | None = None, stop: StopToken | None = None,
                 resume_dir: Path | None = None, force: bool = False) -> None:
        self.prep, self.runs_dir, self.resume_dir = prep, Path(runs_dir), resume_dir
        self.force = force  # resume even when the data changed since the run started
        self._late: list[Notice] = []
        self.resumed: ResumeState | None = None  # notices found before the run folder could take them
        self.bus = bus or EventBus()
        self.stop = stop or StopToken()
        p = prep.preset
        self.setup = Setup(prep.loss, list(p.train.metrics), p.train.epochs, p.train.batch_size,
                           p.train.patience, p.train.restore_best, p.train.amp,
                           p.train.learning_rate, prep.device, chance_loss(prep),
                           chance_accuracy(prep), p.train.lr_schedule)
        self._hinted: set[str] = set()
        self.card: ModelCardWriter | None = None
        self.run_dir: Path | None = None
        self.writer: RunWriter | None = None
        self.rows: list[dict[str, Any]] = []
        self.outcomes: list[FoldOutcome] = []
        self.finished: set[tuple[int, int]] = set()  # trainings a resumed run already has
        self.failure: TrainingFailure | None = None  # set by a joint training this run was part of
        self.note: dict[str, Any] = {}  # added to the summary (e.g. the variants stacked with it)
        self.groups: list[list[Split]] = []
        self.reason: str | None = None
        self.groups_note = ""
        self.started = time.perf_counter()
        self.threads_before = torch.get_num_threads()
        self.contention: ContentionCheck | None = None
        self._device_data: tuple[torch.Tensor, torch.Tensor] | None = None
        self._has_nan: bool | None = None

    def fold_started(self, info: FoldInfo) -> None:
        """A training begins, unless it is a resumed one whose start the replayed log already
        has: a resumed run's events are the uninterrupted run's, timings aside."""
        if self.contention is not None and not self.contention.done:  # the first epoch starts
            self.contention.restart()
        if self.resumed is not None and (info.repeat, info.fold) in self.resumed.started:
            return
        self.bus.emit(FoldStarted(info.repeat, info.fold, info.train_size, info.val_size))

    def emit(self, event: Event) -> None:
        """Send an event; a hint is given once per run, not once per fold."""
        if isinstance(event, Notice) and (event.level == "hint" or event.code in CURVE_CODES):
            if event.code in self._hinted:
                return
            self._hinted.add(event.code)
        self.bus.emit(event)
        if isinstance(event, EpochEnded) and self.contention is not None and not self.contention.done:
            lower = self.contention.after_first_epoch()
            if lower is not None:
                torch.set_num_threads(lower.threads)
                self.bus.emit(Notice("hint", "threads", f"{lower.threads} thread"
                                     f"{'s' if lower.threads > 1 else ''} from now on: {lower.why}"))

    # -- tensors for one split -------------------------------------------------------------
    def device_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every sample and target on the device, once per run (on the CPU the tensor shares
        the loaded array's memory); splits index into them."""
        if self._device_data is None:
            d, prep = self.prep.data, self.prep
            with warnings.catch_warnings():  # a memory-mapped .npy is read-only; never written
                warnings.simplefilter("ignore", UserWarning)
                x = torch.from_numpy(np.ascontiguousarray(d.x))
            if not self.streams:
                x = x.to(prep.device)
            y = torch.from_numpy(target_array(d.y, prep.loss.target, len(d.classes)))
            self._device_data = (x, y.to(prep.device))
        return self._device_data

    @property
    def streams(self) -> bool:
        """The data stays in host memory and streams to the GPU in batches."""
        return too_big_for_device(self.prep.data.x.nbytes, self.prep.device)

    def fit(self, train_idx: np.ndarray) -> Preprocessing:
        """Preprocessing fitted on a split's training part only (one pass, no copy)."""
        x = self.prep.data.x
        if self._has_nan is None:  # one scan per run: a NaN anywhere means a fill per split
            self._has_nan = bool(np.issubdtype(x.dtype, np.floating) and any_nan(x))
        return fit_preprocessing(x, train_idx, self.prep.preset.data.normalize, self._has_nan)

    def tensors(self, train_idx: np.ndarray, parts: dict[str, np.ndarray]
                ) -> tuple[SplitData, Preprocessing]:
        """The split as indices into the run's one copy of the data, with its preprocessing."""
        pre = self.fit(train_idx)
        x, y = self.device_data()
        dev = self.prep.device
        idx = {name: torch.as_tensor(i, device=dev) for name, i in {"train": train_idx, **parts}.items()}
        return SplitData(x, y, idx, pre.on(dev)), pre

    def new_net(self, seed: int) -> Net:
        torch.manual_seed(seed)
        return build_model(self.prep.preset.model.layers, self.prep.data.input_shape).to(
            self.prep.device)

    def checkpointer(self, splits: list[Split] | None) -> Checkpointer | None:
        """Where this training's checkpoints go (`splits` None: the final fit)."""
        if self.run_dir is None:
            return None
        tag = group_tag([(s.repeat, s.fold) for s in splits]) if splits else "final"
        return Checkpointer(self.run_dir / CHECKPOINTS, tag, self.prep.preset.train.checkpoint_every)

    # -- training ---------------------------------------------------------------------------
    def _train_split(self, split: Split) -> FoldOutcome:
        plan = self.prep.plan
        parts = {"val": split.val_idx}
        if len(plan.test_idx):
            parts["test"] = plan.test_idx
        tensors, pre = self.tensors(split.train_idx, parts)
        seed = split_seed(self.prep.preset.train.seed, split)
        net = self.new_net(seed)
        trainee = SingleTrainee(net, make_optimizer(net, self.prep.preset.train),
                                self.setup, tensors, seed)
        self._maybe_graph(trainee)
        info = FoldInfo(split.repeat, split.fold, len(split.train_idx), len(split.val_idx))
        self.fold_started(info)
        (out,) = run_epochs(trainee, [info], self.setup, self.emit, self.stop,
                            checkpoint=self.checkpointer([split]))
        test = self.test_scores(trainee, 1)[0] if "test" in parts else {}
        self.finish_fold(out, test, trainee.snapshot(0), pre, split.val_idx)
        return out

    def _maybe_graph(self, trainee: SingleTrainee) -> None:
        if self.prep.preset.train.cuda_graphs:
            self.emit(Notice("hint", "cuda-graphs", trainee.use_cuda_graph()))

    def test_scores(self, trainee: Any, k: int) -> list[dict[str, float]]:
        rows = trainee.evaluate("test").tolist()
        return [dict(zip(self.setup.names, rows[i], strict=True)) for i in range(k)]

    def finish_fold(self, out: FoldOutcome, test: dict[str, float],
                    state: dict[str, torch.Tensor], pre: Preprocessing, val_idx: np.ndarray) -> None:
        row = fold_row(out)
        if test:
            row["test"] = test
        self.rows.append(row)
        self.outcomes.append(out)
        i = out.info
        if self.card:
            name = f"r{i.repeat}-f{i.fold}"
            self.card.save(name, state, pre, {"repeat": i.repeat, "fold": i.fold,
                                              "best_epoch": out.best_epoch,
                                              "epochs_run": len(out.history),
                                              "complete": not out.interrupted})
            self.save_val_predictions(name, state, pre, val_idx)
        self.bus.emit(FoldEnded(i.repeat, i.fold, i.train_size, i.val_size, out.best_epoch,
                                len(out.history), out.best, out.last, test))

    def _train_all(self, groups: list[list[Split]], reason: str | None) -> None:
        if reason and self.prep.preset.validation.parallel_folds and len(self.prep.plan.splits) > 1:
            self.emit(Notice("hint", "parallel-folds", f"folds train one after another: {reason}"))
        for group in groups:
            if self.stop.requested:
                break
            if all((s.repeat, s.fold) in self.finished for s in group):
                continue
            if len(group) == 1:
                self._train_split(group[0])
            else:
                train_group(self, group)

    def _final_fit(self, epochs: int) -> dict[str, Any]:
        plan = self.prep.plan
        parts = {"test": plan.test_idx} if len(plan.test_idx) else {}
        tensors, pre = self.tensors(plan.rest_idx, parts)
        seed = self.prep.preset.train.seed
        net = self.new_net(seed)
        trainee = SingleTrainee(net, make_optimizer(net, self.prep.preset.train),
                                self.setup, tensors, seed)
        self._maybe_graph(trainee)
        info = FoldInfo(-1, -1, len(plan.rest_idx), 0)
        self.fold_started(info)
        (out,) = run_epochs(trainee, [info], self.setup, self.emit, self.stop, epochs=epochs,
                            has_val=False, checkpoint=self.checkpointer(None))
        result: dict[str, Any] = {"epochs": epochs, "epochs_run": len(out.history),
                                  "train": out.history[-1][0] if out.history else {}}
        if parts and len(out.history) == epochs:
            result["test"] = self.test_scores(trainee, 1)[0]
        if self.card and len(out.history) == epochs:
            self.card.save("final", trainee.snapshot(0), pre, {"epochs": epochs, "complete": True})
        return result

    def save_val_predictions(self, name: str, state: dict[str, torch.Tensor], pre: Preprocessing,
                             val_idx: np.ndarray) -> None:
        """What this model says for its validation rows, computed exactly as `predict` does
        later (CPU, saved weights), for the error views and to check round trips."""
        d = self.prep.data
        if d.task == "sequence" or self.run_dir is None:
            return
        net = build_model(self.prep.preset.model.layers, d.input_shape)
        net.load_state_dict(state)
        outputs = model_outputs(net, pre, d.x, val_idx)
        folder = self.run_dir / "predictions"
        folder.mkdir(exist_ok=True)
        save_arrays(folder / f"val-{name}.npz", rows=d.source_rows[val_idx], y=d.y[val_idx],
                    outputs=outputs)

    # -- the run ----------------------------------------------------------------------------
    def run(self, progress: bool = False) -> dict[str, Any]:
        """Train; the summary. `progress`: a line per epoch on stdout, as Keras's fit prints."""
        printer = None
        if progress:
            from .progress import ProgressPrinter

            printer = ProgressPrinter()
            self.bus.subscribe(printer)
        try:
            self.begin()
            return self.complete(lambda: self._train_all(self.groups, self.reason))
        finally:
            if printer is not None:
                self.bus.unsubscribe(printer)

    def begin(self) -> None:
        """The run folder, its first lines and the notices; training follows (here, or jointly
        with other variants' experiments in a stacked sweep group)."""
        prep, p = self.prep, self.prep.preset
        self.groups, self.reason = plan_groups(prep, self.setup)
        # A resumed folder is locked before it is read or changed: one writer at a time.
        lock = FolderLock(self.resume_dir) if self.resume_dir is not None else None
        try:
            if self.resume_dir is not None:
                changed = same_data(self.resume_dir, self.prep.data, self.force)
                if changed is not None:
                    self.note["resumed_on_changed_data"] = True
                    self._late.append(changed)
            self.resumed = self._resume_state(self.groups) if self.resume_dir else None
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        self.run_dir = self.resume_dir or new_run_dir(self.runs_dir, p.name)
        self.writer = RunWriter(self.run_dir, fresh=self.resumed is not None, lock=lock)
        self.bus.subscribe(self.writer)
        self.writer.write_preset(preset_to_toml(portable(p, prep.data)))
        self.card = ModelCardWriter(self.run_dir, model_card(self.prep), keep=self.resumed is not None)
        if prep.device.type == "cpu":
            # Optimizer state of dead units decays into denormal floats, which x86 CPUs handle
            # 10-20x slower; flushing them to zero changes no result a user could see. The
            # setting is process-wide, so it is put back when the run ends.
            torch.set_flush_denormal(True)
        self.started = time.perf_counter()
        widest = max(len(g) for g in self.groups)
        self.groups_note = "" if self.reason else f"{widest} at once"
        threads = choose_threads(p.train.threads, prep.macs * p.train.batch_size * widest,
                                 prep.device)
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads.threads)  # process-wide: put back when the run ends
        if p.train.threads is None and prep.device.type == "cpu":
            self.contention = ContentionCheck(threads.threads)
        self.bus.emit(RunStarted(
            str(self.run_dir), p.name, p.validation.scheme, prep.plan.trainings, p.train.epochs,
            str(prep.device), prep.data.describe(), prep.data.task, prep.params,
            list(p.train.metrics), self.groups_note, os.getpid(), p.train.learning_rate,
            threads.threads, threads.why, time.time()))
        if self.resumed is not None:
            self._replay(self.resumed)
        for notice in [*(prep.notices if self.resumed is None else []), *self._late]:
            self.emit(notice)

    def complete(self, train: Callable[[], None] | None) -> dict[str, Any]:
        """Train (unless already trained elsewhere), summarise, final fit, and close the folder
        whatever happened."""
        prep, p = self.prep, self.prep.preset
        status, message = "done", ""
        summary: dict[str, Any] = {}
        refused: InputError | None = None
        try:
            if train is not None:
                train()
            if self.failure is not None:
                raise self.failure
            summary = self._results()
            if p.validation.final_fit and not self.stop.requested and summary.get("averaged_curve"):
                summary["final_fit"] = self._final_fit(summary["averaged_curve"]["best_epoch"])
            if self.stop.requested:
                status, message = "stopped", ("stopped on request; everything computed so far is "
                                              f"kept; `dltui resume {self.run_dir}` continues it")
        except TrainingFailure as failure:
            status, message = failure.status, str(failure)
            summary = self._results()
        except InputError as err:  # found mid-run (a checkpoint of another model): the folder
            status, message = "failed", str(err)  # says so, and the caller gets its one line
            summary = self._results()
            refused = err
        except KeyboardInterrupt:  # a notebook's interrupt: keep what was computed
            status, message = "stopped", "interrupted; everything computed so far is kept"
            summary = self._results()
        except Exception as err:  # a bug or an environment failure: the run says so, not "done"
            status, message = "failed", f"{type(err).__name__}: {err}"
            summary = self._results()
        finally:
            assert self.writer is not None and self.run_dir is not None
            seconds = time.perf_counter() - self.started
            summary = {"status": status, "message": message, "preset": p.name,
                       "scheme": p.validation.scheme, "task": prep.data.task,
                       "device": str(prep.device), "parallel": self.groups_note,
                       "seconds": round(seconds, 3), **self.note, **(summary or self._results())}
            summary["headline"] = headline(summary)
            if summary.get("folds"):
                summary["advice"] = advice(summary, self._hinted & CURVE_CODES)
            try:
                self.writer.write_summary(summary)
            except RunFolderError as err:  # disk full: readers see a dead writer and no summary
                summary["status"], summary["message"] = "failed", str(err)
                status, message = "failed", str(err)
            self.bus.emit(RunEnded(status, message, seconds, summary))
            self.writer.close()
            if status == "done":
                shutil.rmtree(self.run_dir / CHECKPOINTS, ignore_errors=True)
            torch.set_flush_denormal(False)
            torch.set_num_threads(self.threads_before)
        if refused is not None:
            raise refused
        return summary

    def _results(self) -> dict[str, Any]:
        return summarise(self.prep, self.rows, self.outcomes)

    def _resume_state(self, groups: list[list[Split]]) -> ResumeState:
        tags = {(-1, -1): "final"}
        for g in groups:
            members = [(s.repeat, s.fold) for s in g]
            tags.update(dict.fromkeys(members, group_tag(members)))
        assert self.resume_dir is not None
        return resume_state(self.resume_dir, tags)

    def _replay(self, state: ResumeState) -> None:
        """The kept events of the interrupted run, re-emitted: the fresh metrics.jsonl and every
        face show the run whole; finished trainings count as if just trained."""
        for event in state.kept:
            if isinstance(event, Notice):
                self._hinted.add(event.code)
            self.bus.emit(event)
        for key, (out, test) in sorted(state.done.items()):
            row = fold_row(out)
            if test:
                row["test"] = test
            self.rows.append(row)
            self.outcomes.append(out)
            self.finished.add(key)
