"""Parallel folds: the K models of a K-fold run trained at once, their parameters stacked along a
leading axis (batched layers with bmm / grouped convolutions).

Each fold keeps its own initial weights, training indices, shuffle and optimizer state: the
optimizers dltui offers are elementwise, so one optimizer over stacked parameters *is* K
independent optimizers. A fold's result therefore equals sequential training up to float rounding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.preprocess import Normalizer
from ..data.splits import Split, split_seed
from ..events import StopToken
from ..model.build import Net, build_model
from ..model.metrics import METRICS
from ..model.resources import too_big_for_device
from ..spec import TrainSpec
from ..train.loop import EVAL_CHUNK, FoldInfo, Progress, Setup, autocast_for, run_epochs
from ..train.optimizers import flatten_parameters, stacked_optimizer
from ..train.threads import choose_threads, usable_cores
from .cost import stacking_cost_reason
from .fused_mlp import FusedMLP, fusable
from .layers import SDropout, SSequential, Stacked, SWrapped, stack_group, why_not_stacked

if TYPE_CHECKING:
    from ..preflight import Prepared
    from .host import FoldHost

class StackedNet(nn.Module):
    def __init__(self, nets: list[Net]) -> None:
        super().__init__()
        self.head = nets[0].head
        # body index -> per-member (l1, l2) vectors: sweep variants stacked together may differ
        self.members = len(nets)
        indices = sorted({i for n in nets for i in n.penalised})
        self.penalised = {i: (torch.tensor([n.penalised.get(i, (0.0, 0.0))[0] for n in nets]),
                              torch.tensor([n.penalised.get(i, (0.0, 0.0))[1] for n in nets]))
                          for i in indices}
        mods = [stack_group(list(group)) for group in zip(*[list(n.body) for n in nets], strict=True)]
        self.body = SSequential(mods, self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def penalty(self) -> torch.Tensor:
        """Each member's L1/L2 term over its own part of the stacked kernels, summed: the
        gradients stay each member's own."""
        return self.member_penalties().sum()

    def member_penalties(self) -> torch.Tensor:
        total = torch.zeros(self.members, device=next(self.parameters()).device)
        owners = self._owners()
        for index, (l1, l2) in self.penalised.items():
            for name, w in self.body[index].named_parameters():
                if "weight" not in name:
                    continue
                module, local = owners[id(w)]
                ids = module.member_ids(local, w)
                for scale, values in ((l1, w.abs()), (l2, w.square())):
                    if scale.any():
                        per = torch.zeros_like(total).index_add(0, ids, values.reshape(-1))
                        total = total + scale.to(w.device) * per
        return total

    def _owners(self) -> dict[int, tuple[Stacked, str]]:
        """Each parameter's innermost stacked module, and its name there."""
        owners: dict[int, tuple[Stacked, str]] = {}
        for module in self.modules():  # outer modules first: inner ones overwrite them
            if isinstance(module, Stacked) and not isinstance(module, SSequential | SWrapped):
                for name, p in module.named_parameters():
                    owners[id(p)] = (module, name)
        return owners

    def member_index(self) -> torch.Tensor:
        """For every element of the flat parameter buffer (in parameters() order), the member
        it belongs to."""
        owners = self._owners()
        parts = []
        for p in self.parameters():
            module, name = owners[id(p)]
            parts.append(module.member_ids(name, p))
        return torch.cat(parts)

    def unstack(self, i: int) -> dict[str, torch.Tensor]:
        return {f"body.{k}": v.detach().clone() for k, v in self.body.unstack(i).items()}

    @torch.no_grad()
    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None:
        self.body.restore(i, {k[len("body."):]: v for k, v in state.items() if k.startswith("body.")})


def unsupported_reason(prep: Prepared) -> str | None:
    """Why this model cannot be stacked (every layer dltui has can, today), or None."""
    with torch.device("meta"):
        body = build_model(prep.preset.model.layers, prep.data.input_shape).body
    for i, module in enumerate(body):
        if reason := why_not_stacked(module):
            return f"model layer {i}: {reason}"
    return None


def needs_equal_parts(prep: Prepared) -> bool:
    """Batch norm takes statistics over the batch: a stacked member's padded last batch would
    differ from its sequential one, so members must have training parts of one size."""
    return any(getattr(layer, "type", "") == "BatchNorm" or (
        getattr(layer, "type", "") == "TimeDistributed" and layer.layer.type == "BatchNorm")
        for layer in prep.preset.model.layers)


def plan_groups(prep: Prepared, setup: Setup) -> tuple[list[list[Split]], str | None]:
    """Chunks of splits to train at once, or one split per chunk and the reason why."""
    splits = prep.plan.splits
    one_each = [[s] for s in splits]
    if not prep.preset.validation.parallel_folds:
        return one_each, "validation.parallel_folds is off"
    if len(splits) < 2:
        return one_each, "a single split"
    reason = unsupported_reason(prep)
    if reason:
        return one_each, reason
    if too_big_for_device(prep.data.x.nbytes, prep.device):
        return one_each, "the data streams from host memory in batches (too big for the GPU)"
    if needs_equal_parts(prep) and len({len(s.train_idx) for s in splits}) > 1:
        return one_each, ("batch norm with training parts of different sizes "
                          f"({', '.join(sorted({str(len(s.train_idx)) for s in splits}))})")
    counts = {math.ceil(len(s.train_idx) / setup.batch_size) for s in splits}
    if len(counts) > 1:
        return one_each, (f"the folds' training parts need different numbers of batches "
                          f"({', '.join(map(str, sorted(counts)))}) at batch size {setup.batch_size}")
    reason = slower_stacked(prep, setup.batch_size, len(splits))
    if reason:
        return one_each, reason
    return [splits], None


def slower_stacked(prep: Prepared, batch_size: int, members: int) -> str | None:
    """Why training the members at once is estimated slower (cost.py), or None. The threads
    as the run would choose them with every core free (the estimate is not re-measured)."""
    if prep.device.type != "cpu":  # the model's constants are a CPU's; a GPU is launch-bound
        return None
    cores = usable_cores()
    threads = choose_threads(prep.preset.train.threads, prep.macs * batch_size * members,
                             prep.device, cores, float(cores)).threads
    return stacking_cost_reason(prep.preset.model.layers, prep.data.input_shape, batch_size,
                                members, threads)


def _pad(rows: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged index rows -> (K, longest) indices and 0/1 weights for the padding."""
    longest = max(len(r) for r in rows)
    idx = torch.zeros(len(rows), longest, dtype=torch.long, device=device)
    w = torch.zeros(len(rows), longest, device=device)
    for k, r in enumerate(rows):
        idx[k, :len(r)] = r
        w[k, :len(r)] = 1.0
    return idx, w


# Data this small (times the members) is normalised once per member and each epoch's batches
# are gathered in one go: a batch is then a slice, not a gather and a normalisation (3-4 fewer
# ops per step, a fifth of a small model's step).
SMALL_DATA_BYTES = 64 << 20


class StackedTrainee:
    def __init__(self, net: StackedNet, setup: Setup, train: TrainSpec, x: torch.Tensor,
                 y: torch.Tensor, norm: Normalizer, splits: list[Split], test_idx: np.ndarray,
                 seeds: list[int], trains: list[TrainSpec] | None = None) -> None:
        # x: every sample once, raw; each member's statistics are applied per batch by `norm`
        # (K, 1, ...), so K members share one copy of the data.
        self.net, self.setup, self.x, self.y, self.norm = net, setup, x, y, norm
        members = net.member_index()
        self.members = members
        flat, _ = flatten_parameters(net)
        # Sweep variants stacked together: each member steps with its own settings.
        self.opt = stacked_optimizer(flat, members, trains or [train])
        # Dense/ReLU stacks step through a hand-written backward (same numbers, less overhead).
        mods = list(net.body.mods)
        self.fused = FusedMLP(mods, setup.loss, net.head, net.penalised) if not setup.amp \
            and fusable(mods, setup.loss, net.head, tuple(x.shape[1:])) else None
        dev = setup.device
        self.k = len(splits)
        self.train_idx = [torch.as_tensor(s.train_idx, device=dev) for s in splits]
        self.gens = [torch.Generator(device=dev).manual_seed(s) for s in seeds]
        self.sizes = torch.tensor([len(s.train_idx) for s in splits], device=dev,
                                  dtype=torch.float32)
        self.order, self.w = _pad(self.train_idx, dev)
        n, b = self.order.shape[1], setup.batch_size
        self.batches = math.ceil(n / b)
        # Dropout draws each member's masks from its own shuffle generator, for its real rows
        # of each batch: what that member's sequential training draws.
        self.drops = [m for m in net.modules() if isinstance(m, SDropout)]
        for drop in self.drops:
            drop.generators = self.gens
        lengths = [len(s.train_idx) for s in splits]
        self.batch_rows = [([max(0, min(b, size - s)) for size in lengths], min(b, n - s))
                           for s in range(0, n, b)]
        self.ragged = bool((self.w[:, -1] == 0).any())
        # Real samples of each fold in each batch: a batch mean weighs by them in the epoch mean.
        self.counts = F.pad(self.w, (0, self.batches * b - n)).reshape(
            self.k, self.batches, b).sum(2).t()
        # Small data: each member's normalised copy, flattened to (K * N, ...); `offsets` turn a
        # member's row index into a row of that copy. Otherwise None: batches are gathered from
        # the raw data and normalised one by one.
        self.xs: torch.Tensor | None = None
        self.offsets: torch.Tensor | None = None
        if x.is_floating_point() and self.k * x.nbytes <= SMALL_DATA_BYTES:
            self.xs = norm(x.unsqueeze(0)).expand(self.k, *x.shape).reshape(-1, *x.shape[1:])
            self.offsets = torch.arange(self.k, device=dev)[:, None] * len(x)
        self.parts = {"val": _pad([torch.as_tensor(s.val_idx, device=dev) for s in splits], dev)}
        if len(test_idx):
            t = torch.as_tensor(test_idx, device=dev).expand(self.k, -1)
            self.parts["test"] = (t, torch.ones(t.shape, device=dev))

    def _per_sample_loss(self, logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.setup.loss.per_sample(logits, yb, self.net.head, lead=2)

    def train_epoch(self, stop: StopToken, progress: Progress | None) -> torch.Tensor | None:
        order, w = self.order, self.w
        for k, (idx, g) in enumerate(zip(self.train_idx, self.gens, strict=True)):
            order[k, :len(idx)] = idx[torch.randperm(len(idx), device=idx.device, generator=g)]
        ys = self.y[order]
        xs = self.xs[order + self.offsets] if self.xs is not None else None
        if self.fused is not None:  # Dense and ReLU only: no train/eval modes to switch
            with torch.no_grad():  # once per epoch: a context per step costs a few us
                logits = self._fused_steps(stop, progress, xs, ys)
            if logits is None:
                return None
            # the epoch's loss from its logits at once: the mean over each member's samples
            # of what each batch's mean weighed in
            per_sample = self._per_sample_loss(logits, ys)
            values = [(per_sample * w).sum(1) / self.sizes]
        else:
            self.net.train()
            steps = self._autograd_steps(stop, progress, xs, ys)
            if steps is None:
                return None
            losses, outputs = steps
            values = [(torch.stack(losses).float() * self.counts).sum(0) / self.sizes]
            logits = torch.cat(outputs, 1).float() if self.setup.metrics else None
        if self.setup.metrics:
            assert logits is not None
            values += self._metrics(logits, ys, w)
        return torch.stack(values, 1)

    def _batch(self, xs: torch.Tensor | None, s: int) -> torch.Tensor:
        """Batch s of the epoch: a slice of the gathered epoch, or gathered and normalised."""
        b = self.setup.batch_size
        return xs[:, s:s + b] if xs is not None else self.norm(self.x[self.order[:, s:s + b]])

    def _fused_steps(self, stop: StopToken, progress: Progress | None, xs: torch.Tensor | None,
                     ys: torch.Tensor) -> torch.Tensor | None:
        """The epoch's steps through the written-out backward; returns every batch's logits."""
        assert self.fused is not None
        step, update, b = self.fused.step, self.opt.update, self.setup.batch_size
        # every batch's view at once (one call, not two slices a step)
        x_batches = xs.split(b, 1) if xs is not None else None
        y_batches = ys.split(b, 1)
        last_batch = len(y_batches) - 1
        outputs = []
        for i, yb in enumerate(y_batches):
            if stop.requested:
                return None
            xb = x_batches[i] if x_batches is not None else self._batch(None, i * b)
            # the last batch: folds may have one sample less
            weights = self.w[:, i * b:] if self.ragged and i == last_batch else None
            outputs.append(step(xb, yb, weights))
            update()
            if progress is not None and i % 16 == 0:
                progress(i, self.batches)
        return torch.cat(outputs, 1)

    def _autograd_steps(self, stop: StopToken, progress: Progress | None,
                        xs: torch.Tensor | None, ys: torch.Tensor
                        ) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        net, opt, b, n, w = self.net, self.opt, self.setup.batch_size, ys.shape[1], self.w
        amp = autocast_for(self.setup)
        losses, outputs = [], []
        for i, s in enumerate(range(0, n, b)):
            if stop.requested:
                return None
            yb = ys[:, s:s + b]
            for drop in self.drops:
                drop.rows, drop.batch = self.batch_rows[i]
            with amp:
                logits = net(self._batch(xs, s))
                if self.ragged and s + b >= n:  # the last batch: folds may have one sample less
                    wb = w[:, s:s + b]
                    fold_loss = (self._per_sample_loss(logits, yb) * wb).sum(1) / wb.sum(1)
                else:
                    fold_loss = self.setup.loss.elementwise(logits, yb, net.head).flatten(1).mean(1)
            opt.zero_grad()
            total = fold_loss.sum()
            if net.penalised:  # each member's L1/L2 term; their sum keeps gradients apart
                total = total + net.penalty()
            total.backward()
            opt.step()
            losses.append(fold_loss.detach())
            if self.setup.metrics:
                outputs.append(logits.detach())
            if progress is not None and i % 16 == 0:
                progress(i, self.batches)
        return losses, outputs

    def _metrics(self, logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        head, form = self.net.head, self.setup.loss.target
        return [(METRICS[m](logits, y, head, form, 2) * w).sum(1) / w.sum(1)
                for m in self.setup.metrics]

    @torch.no_grad()
    def evaluate(self, part: str) -> torch.Tensor:
        idx, w = self.parts[part]
        forward = self.fused.forward if self.fused is not None else self.net
        if self.fused is None:
            self.net.eval()
        sums = torch.zeros(self.k, 1 + len(self.setup.metrics), device=self.x.device)
        with autocast_for(self.setup):
            for s in range(0, idx.shape[1], EVAL_CHUNK):
                ic, wc = idx[:, s:s + EVAL_CHUNK], w[:, s:s + EVAL_CHUNK]
                xc = self.xs[ic + self.offsets] if self.xs is not None else self.norm(self.x[ic])
                logits = forward(xc).float()
                yc = self.y[ic]
                cols = [(self._per_sample_loss(logits, yc) * wc).sum(1)]
                cols += [m * wc.sum(1) for m in self._metrics(logits, yc, wc)]
                sums += torch.stack(cols, 1)
        return sums / w.sum(1, keepdim=True)

    @property
    def generators(self) -> list[torch.Generator]:
        return self.gens

    @torch.no_grad()
    def penalties(self) -> torch.Tensor | None:
        return self.net.member_penalties() if self.net.penalised else None

    @property
    def net_device(self) -> torch.device:
        return self.setup.device

    def set_learning_rates(self, rates: list[float]) -> None:
        """Each member's rate (a schedule moves each by its own losses)."""
        self.opt.set_rates(rates, self.members)

    def snapshot(self, i: int) -> dict[str, torch.Tensor]:
        return self.net.unstack(i)

    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None:
        self.net.restore(i, state)


def train_group(exp: FoldHost, group: list[Split]) -> None:
    prep = exp.prep
    dev = prep.device
    # Each fold standardised with its own training statistics, applied per batch.
    pres = [exp.fit(s.train_idx) for s in group]
    x, y = exp.device_data()
    seeds = [split_seed(prep.preset.train.seed, s) for s in group]
    nets = [exp.new_net(seed) for seed in seeds]
    net = StackedNet(nets).to(dev)
    trainee = StackedTrainee(net, exp.setup, prep.preset.train, x, y,
                             Normalizer.stack([pre.on(dev) for pre in pres]), group,
                             prep.plan.test_idx, seeds)
    infos = [FoldInfo(s.repeat, s.fold, len(s.train_idx), len(s.val_idx)) for s in group]
    for info in infos:
        exp.fold_started(info)
    outcomes = run_epochs(trainee, infos, exp.setup, exp.emit, exp.stop,
                          checkpoint=exp.checkpointer(group))
    tests = exp.test_scores(trainee, len(group)) if "test" in trainee.parts else [{}] * len(group)
    for i, out in enumerate(outcomes):
        exp.finish_fold(out, tests[i], trainee.snapshot(i), pres[i], group[i].val_idx)
