"""The training loop: the book's mini-batch SGD, one epoch at a time, for one model or K stacked.

Per batch the loop does only what training needs: index the batch, forward, loss, backward, step.
Losses and outputs stay on the device and are reduced once per epoch, where the single host sync
of the epoch happens (to emit the epoch's numbers and check for divergence).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from ..doctor.curves import CurveWatch
from ..errors import TrainingFailure
from ..events import BatchProgress, EpochEnded, Event, Notice, StopToken
from ..model.build import Net
from ..model.dropout import MemberDropout
from ..model.losses import Loss
from ..model.metrics import METRICS
from ..spec import LRSchedule
from .checkpoints import Checkpointer
from .optimizers import FlatOptimizer
from .schedules import Schedule
from .split_data import SplitData

EVAL_CHUNK = 4096
# Batch progress at most ten times a second: a bar moves smoothly at that rate, and each event
# costs the training time of an interface drawing in the same interpreter (the app measured 10%
# slower than headless on a fast small model when it got one every 16 batches).
PROGRESS_SECONDS = 0.1
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Setup:
    loss: Loss
    metrics: list[str]
    epochs: int
    batch_size: int
    patience: int | None
    restore_best: bool
    amp: bool
    learning_rate: float
    device: torch.device
    chance_loss: float | None = None  # crossentropy of guessing uniformly: ln(classes)
    chance_accuracy: float | None = None  # accuracy of always answering the majority class
    lr_schedule: LRSchedule | None = None

    @property
    def names(self) -> list[str]:
        return ["loss", *self.metrics]


@dataclass(frozen=True)
class FoldInfo:
    repeat: int
    fold: int
    train_size: int
    val_size: int


@dataclass
class FoldOutcome:
    info: FoldInfo
    history: list[tuple[dict[str, float], dict[str, float]]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    interrupted: bool = False  # a stop request ended it before its epochs: resume continues it
    diverged: TrainingFailure | None = None  # in a joint training: this model alone diverged

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch - 1][1] if self.best_epoch else {}

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1][1] if self.history else {}


class Trainee(Protocol):
    """One model or K stacked models that the epoch loop drives."""

    def train_epoch(self, stop: StopToken, progress: Progress | None) -> torch.Tensor | None: ...
    def evaluate(self, part: str) -> torch.Tensor: ...
    def snapshot(self, i: int) -> dict[str, torch.Tensor]: ...
    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None: ...
    def set_learning_rates(self, rates: list[float]) -> None: ...


def autocast_for(setup: Setup) -> contextlib.AbstractContextManager[Any]:
    if setup.amp and setup.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class SingleTrainee:
    """One model on one split. Tensors are already on the device: batches are index slices."""

    def __init__(self, net: Net, optimizer: FlatOptimizer, setup: Setup, data: SplitData,
                 seed: int) -> None:
        self.net, self.opt, self.setup, self.data = net, optimizer, setup, data
        self.parts = data.idx
        self.gen = torch.Generator(device=setup.device).manual_seed(seed)
        for module in net.modules():  # dropout masks from this training's own generator
            if isinstance(module, MemberDropout):
                module.generator = self.gen
        n, b = len(data.idx["train"]), setup.batch_size
        sizes = [min(b, n - s) for s in range(0, n, b)]
        self.weights = torch.tensor(sizes, dtype=torch.float32, device=setup.device) / n
        # train()/eval() walk every submodule; skip them when no layer behaves differently.
        self.modal = any(isinstance(m, nn.Dropout | nn.modules.batchnorm._BatchNorm)
                         for m in net.modules())
        self.graph: Any = None  # a captured CUDA graph of the step (train.cuda_graphs)
        self._batch: torch.Tensor | None = None

    def set_learning_rates(self, rates: list[float]) -> None:
        self.opt.lr = float(rates[0])  # read by every step (a captured graph is refused)

    def amp_context(self) -> contextlib.AbstractContextManager[Any]:
        return autocast_for(self.setup)

    def use_cuda_graph(self) -> str:
        """Capture the step as a CUDA graph where it can be; returns what happened, said once
        in the run's notices."""
        from .cuda_graph import GraphStep, graph_unsupported

        why = graph_unsupported(self)
        if why:
            return f"train.cuda_graphs: not used ({why})"
        if self.modal:
            self.net.train()
        self.graph = GraphStep(self, bool(self.net.penalised))
        return "train.cuda_graphs: each full batch's step replays one captured CUDA graph"

    def train_epoch(self, stop: StopToken, progress: Progress | None) -> torch.Tensor | None:
        net, opt, loss_fn, head = self.net, self.opt, self.setup.loss.mean, self.net.head
        body = net.body  # the Sequential itself: one module call less per batch
        data, b = self.data, self.setup.batch_size
        x, y, norm = data.x, data.y, (None if data.norm.identity else data.norm)
        keep_outputs = bool(self.setup.metrics)
        penalised = bool(net.penalised)
        train_idx = data.idx["train"]
        n = len(train_idx)
        batches = len(self.weights)
        if self.modal:
            net.train()
        perm = torch.randperm(n, device=train_idx.device, generator=self.gen)
        order = train_idx[perm]  # this epoch's samples, in the order batches take them
        host_order = order.cpu() if data.streams else None  # one sync per epoch, not per batch
        # Each batch is gathered into one buffer and normalised there in place: no allocation
        # per batch the size of a batch of data (big samples otherwise fragment the heap).
        if host_order is None and (self._batch is None or self._batch.shape[0] != b):
            self._batch = torch.empty((b, *x.shape[1:]), dtype=x.dtype, device=x.device)
        losses: list[torch.Tensor] = []
        outputs: list[torch.Tensor] = []
        amp = autocast_for(self.setup)
        for i, start in enumerate(range(0, n, b)):
            if stop.requested:
                return None
            idx = order[start:start + b]
            if self.graph is not None and len(idx) == b:
                loss, logits = self.graph.run(idx)
                losses.append(loss)
                if keep_outputs:
                    outputs.append(logits)
                if progress is not None and i % 16 == 0:
                    progress(i, batches)
                continue
            yb = y[idx]
            if host_order is None:
                xb = torch.index_select(x, 0, idx, out=self._batch[:len(idx)])
                if norm is not None:
                    norm.apply_(xb)
            else:
                raw = data.rows(idx, host_order[start:start + b])
                xb = raw if norm is None else norm(raw)
            with amp:
                logits = body(xb)
                loss = loss_fn(logits, yb, head)
                # The curves report the data loss; the L1/L2 term only steers the gradient,
                # so training and validation losses stay comparable (as in Keras' val_loss).
                total = loss + net.penalty() if penalised else loss
            opt.zero_grad()
            total.backward()
            opt.step()
            losses.append(loss.detach())
            if keep_outputs:
                outputs.append(logits.detach())
            if progress is not None and i % 16 == 0:
                progress(i, batches)
        values = [(torch.stack(losses).float() * self.weights).sum()]
        if keep_outputs:
            out, y_seen = torch.cat(outputs).float(), y[order]
            values += [METRICS[m](out, y_seen, head, self.setup.loss.target, 1).mean()
                       for m in self.setup.metrics]
        return torch.stack(values)[None]

    @torch.no_grad()
    def evaluate(self, part: str) -> torch.Tensor:
        idx = self.data.idx[part]
        if self.modal:
            self.net.eval()
        head, form = self.net.head, self.setup.loss.target
        metrics = self.setup.metrics
        if len(idx) <= EVAL_CHUNK:  # the usual case: one pass, torch's fused mean
            x, y = self.data.part(part)
            with autocast_for(self.setup):
                logits = self.net(x).float()
            values = [self.setup.loss.mean(logits, y, head)]
            values += [METRICS[m](logits, y, head, form, 1).mean() for m in metrics]
            return torch.stack(values)[None]
        sums = torch.zeros(1 + len(metrics), device=idx.device)
        with autocast_for(self.setup):
            for s in range(0, len(idx), EVAL_CHUNK):
                chunk = idx[s:s + EVAL_CHUNK]
                logits = self.net(self.data.norm(self.data.rows(chunk))).float()
                yc = self.data.y[chunk]
                parts = [self.setup.loss.per_sample(logits, yc, head).sum()]
                parts += [METRICS[m](logits, yc, head, form, 1).sum() for m in self.setup.metrics]
                sums += torch.stack(parts)
        return (sums / max(len(idx), 1))[None]

    @property
    def generators(self) -> list[torch.Generator]:
        return [self.gen]

    @torch.no_grad()
    def penalties(self) -> torch.Tensor | None:
        value = self.net.penalty()
        return None if value is None else value.detach().reshape(1)

    @property
    def net_device(self) -> torch.device:
        return self.setup.device

    def snapshot(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(state)


def _floats(values: dict[str, float | None]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in values.items()}


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


def run_epochs(trainee: Trainee, folds: list[FoldInfo], setup: Setup,
               emit: Callable[[Event], None], stop: StopToken, epochs: int | None = None,
               has_val: bool = True, checkpoint: Checkpointer | None = None,
               member_emits: list[Callable[[Event], None]] | None = None,
               learning_rates: list[float] | None = None) -> list[FoldOutcome]:
    """Train for the epochs asked (or until early stopping / a stop request) and return each
    model's history. Raises TrainingFailure('diverged') on a NaN or infinite loss. With a
    checkpointer, continues from its checkpoint when there is one and writes new ones.
    `member_emits`: each model's events go to its own run (stacked sweep variants); a model
    that diverges then stops alone, with `diverged` set, and the others train on."""
    epochs = epochs or setup.epochs
    outcomes = [FoldOutcome(f) for f in folds]
    active = [True] * len(folds)
    best_loss = [math.inf] * len(folds)
    best_state: list[dict[str, torch.Tensor] | None] = [None] * len(folds)
    rates = learning_rates or [setup.learning_rate] * len(folds)
    watches = [CurveWatch(rate, setup.chance_loss, setup.chance_accuracy) for rate in rates]
    schedules = ([Schedule(setup.lr_schedule, rate, epochs) for rate in rates]
                 if setup.lr_schedule else [])
    names = setup.names
    first = folds[0]
    start = 1
    resumed = checkpoint.load(trainee) if checkpoint else None
    if resumed is not None:
        loop, best_state = resumed
        start = loop["epoch"] + 1
        for out, hist, best_epoch, early in zip(outcomes, loop["history"], loop["best_epoch"],
                                                loop["stopped_early"], strict=True):
            out.history = [(_floats(tr), _floats(va)) for tr, va in hist]
            out.best_epoch, out.stopped_early = best_epoch, early
        best_loss = [math.inf if v is None else v for v in loop["best_loss"]]
        active = loop["active"]
        for schedule, state in zip(schedules, loop.get("schedule") or [], strict=False):
            schedule.load(state)
        for watch, out in zip(watches, outcomes, strict=True):  # said before: not said again
            for epoch, (tr, va) in enumerate(out.history, start=1):
                watch.update(epoch, tr, va)
        emit(Notice("hint", "resumed", f"resumed from the checkpoint after epoch {loop['epoch']}"))
    if schedules:
        trainee.set_learning_rates([s.lr for s in schedules])
    last_progress = [0.0]  # when the last batch-progress event went out
    for epoch in range(start, epochs + 1):
        if not any(active):
            break
        started = time.perf_counter()

        def progress(batch: int, batches: int, epoch: int = epoch) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= PROGRESS_SECONDS:
                last_progress[0] = now
                emit(BatchProgress(first.repeat, first.fold, epoch, batch, batches))

        try:
            train = trainee.train_epoch(stop, progress)
            if train is None:
                for out, on in zip(outcomes, active, strict=True):
                    out.interrupted = on
                break
            val = trainee.evaluate("val") if has_val else torch.full_like(train, math.nan)
            rows = torch.stack([train, val]).tolist()  # the epoch's one host sync
            # The L1/L2 term, reported beside the data loss (a second sync, regularised runs only).
            penalties = trainee.penalties() if hasattr(trainee, "penalties") else None
            penalty_rows = penalties.tolist() if penalties is not None else None
        except torch.OutOfMemoryError:
            raise TrainingFailure(
                f"out of memory at batch size {setup.batch_size}; try a smaller "
                "train.batch_size", "failed") from None
        seconds = time.perf_counter() - started
        for i, info in enumerate(folds):
            if not active[i]:
                continue
            tr = dict(zip(names, rows[0][i], strict=True))
            if penalty_rows is not None:
                tr["penalty"] = penalty_rows[i]
            va = dict(zip(names, rows[1][i], strict=True)) if has_val else {}
            send = member_emits[i] if member_emits else emit
            if not _finite(tr) or (has_val and not _finite(va)):
                failure = TrainingFailure(
                    f"the loss became {tr['loss'] if not _finite(tr) else va['loss']} at epoch "
                    f"{epoch} (repeat {info.repeat}, fold {info.fold}): training diverged; try "
                    f"a smaller train.learning_rate (now {rates[i]:g})", "diverged")
                if member_emits is None:
                    raise failure
                outcomes[i].diverged, active[i] = failure, False
                continue
            out = outcomes[i]
            out.history.append((tr, va))
            send(EpochEnded(info.repeat, info.fold, epoch, epochs, tr, va, seconds,
                            info.train_size / seconds if seconds > 0 else 0.0,
                            schedules[i].lr if schedules else rates[i]))
            score = va["loss"] if has_val else tr["loss"]
            if score < best_loss[i]:
                best_loss[i], out.best_epoch = score, epoch
                if setup.restore_best:
                    best_state[i] = trainee.snapshot(i)
            for found in watches[i].update(epoch, tr, va):
                send(Notice(found.level, found.id, found.message, found.epoch))
            if setup.patience and epoch - out.best_epoch >= setup.patience:
                active[i], out.stopped_early = False, True
                if not setup.restore_best:  # stacked models train on; keep this one as it stopped
                    best_state[i] = trainee.snapshot(i)
        if schedules:  # each model's rate for the next epoch, from its own losses
            for i, schedule in enumerate(schedules):
                if outcomes[i].history and len(outcomes[i].history) == epoch:
                    tr, va = outcomes[i].history[-1]
                    schedule.after(epoch, va["loss"] if has_val else tr["loss"])
            trainee.set_learning_rates([s.lr for s in schedules])
        if checkpoint and any(active) and epoch < epochs and checkpoint.due(epoch):
            checkpoint.save(trainee, {
                "schedule": [s.state() for s in schedules],
                "epoch": epoch, "history": [o.history for o in outcomes],
                "best_epoch": [o.best_epoch for o in outcomes],
                "stopped_early": [o.stopped_early for o in outcomes], "best_loss": best_loss,
                "active": active}, best_state)
    for i, state in enumerate(best_state):
        if state is not None:
            trainee.restore(i, state)
    return outcomes
