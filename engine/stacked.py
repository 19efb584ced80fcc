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

from dltui.engine.events import FoldStarted, StopToken
from dltui.engine.layers import _MeanOver
from dltui.engine.loop import EVAL_CHUNK, FoldInfo, Progress, Setup, autocast_for, run_epochs
from dltui.engine.metrics import METRICS
from dltui.engine.model import Net
from dltui.engine.optimizers import flatten_parameters, stacked_optimizer
from dltui.engine.preprocess import Normalizer
from dltui.engine.spec import TrainSpec
from dltui.engine.splits import Split, split_seed

if TYPE_CHECKING:
    from dltui.engine.experiment import Experiment, Prepared

SUPPORTED = {"Dense", "Activation", "Dropout", "Flatten", "Conv2D", "MaxPool2D",
             "GlobalAveragePooling"}


class SLinear(nn.Module):
    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach().t() for m in layers]))
        b = [m.bias.detach() if m.bias is not None else torch.zeros(m.out_features) for m in layers]
        self.bias = nn.Parameter(torch.stack(b)[:, None, :], requires_grad=layers[0].bias is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return torch.baddbmm(self.bias, x, self.weight)
        shape = x.shape
        flat = x.reshape(shape[0], -1, shape[-1])
        return torch.baddbmm(self.bias, flat, self.weight).reshape(*shape[:-1], -1)

    def unstack(self, i: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight[i].t(), "bias": self.bias[i, 0]}


class SConv2d(nn.Module):
    """K convolutions as one grouped convolution over (B, K*C, H, W)."""

    def __init__(self, layers: list[nn.Conv2d]) -> None:
        super().__init__()
        m = layers[0]
        self.k, self.stride, self.padding = len(layers), m.stride, m.padding
        self.weight = nn.Parameter(torch.cat([c.weight.detach() for c in layers]))
        self.bias = nn.Parameter(torch.cat([c.bias.detach() for c in layers]))  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b, c, h, w = x.shape
        y = F.conv2d(x.transpose(0, 1).reshape(b, k * c, h, w), self.weight, self.bias,
                     self.stride, self.padding, groups=k)
        return y.reshape(b, k, -1, *y.shape[2:]).transpose(0, 1)

    def unstack(self, i: int) -> dict[str, torch.Tensor]:
        f = self.weight.shape[0] // self.k
        return {"weight": self.weight[i * f:(i + 1) * f], "bias": self.bias[i * f:(i + 1) * f]}


class SPerSample(nn.Module):
    """A parameter-free module that wants (N, ...) inputs: fold K into the batch axis."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x.reshape(-1, *x.shape[2:]))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class SDropout(nn.Module):
    """Dropout with a rate per stacked member (sweep variants that vary it); inputs (K, B, ...)."""

    def __init__(self, rates: list[float]) -> None:
        super().__init__()
        self.register_buffer("rates", torch.tensor(rates))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        p = self.rates.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)
        keep = torch.rand_like(x) >= p
        return x * keep / (1 - p)


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
        mods: list[nn.Module] = []
        for group in zip(*[list(n.body) for n in nets], strict=True):
            first = group[0]
            if isinstance(first, nn.Linear):
                mods.append(SLinear(list(group)))
            elif isinstance(first, nn.Conv2d):
                mods.append(SConv2d(list(group)))
            elif isinstance(first, nn.MaxPool2d | nn.Flatten | _MeanOver):
                mods.append(SPerSample(first))
            elif isinstance(first, nn.Dropout) and len({m.p for m in group}) > 1:
                mods.append(SDropout([m.p for m in group]))  # sweep variants' own rates
            else:  # elementwise: activations, dropout (each fold gets its own mask)
                mods.append(first)
        self.body = nn.Sequential(*mods)
        # Called directly in forward: skipping nn.Module.__call__ per layer matters at small sizes.
        self._steps = [m.forward for m in mods]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x

    def penalty(self) -> torch.Tensor:
        """Each member's L1/L2 term over its own slice of the stacked kernels (members are
        contiguous blocks along the first axis), summed: gradients stay each member's own."""
        return self.member_penalties().sum()

    def member_penalties(self) -> torch.Tensor:
        total = torch.zeros(self.members, device=next(self.parameters()).device)
        for index, (l1, l2) in self.penalised.items():
            for name, w in self.body[index].named_parameters():
                if "weight" not in name:
                    continue
                rows = w.reshape(self.members, -1)
                if l1.any():
                    total = total + l1.to(w.device) * rows.abs().sum(1)
                if l2.any():
                    total = total + l2.to(w.device) * rows.square().sum(1)
        return total

    def member_index(self) -> torch.Tensor:
        """For every element of the flat parameter buffer (in parameters() order), the member
        it belongs to."""
        parts = []
        for p in self.parameters():
            per = p.shape[0] // self.members
            ids = torch.arange(p.shape[0], device=p.device) // per
            parts.append(ids.reshape(-1, *([1] * (p.dim() - 1))).expand(p.shape).reshape(-1))
        return torch.cat(parts)

    def unstack(self, i: int) -> dict[str, torch.Tensor]:
        out = {}
        for j, m in enumerate(self.body):
            if isinstance(m, SLinear | SConv2d):
                out.update({f"body.{j}.{k}": v.detach().clone() for k, v in m.unstack(i).items()})
        return out

    @torch.no_grad()
    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None:
        for j, m in enumerate(self.body):
            if isinstance(m, SLinear):
                m.weight[i] = state[f"body.{j}.weight"].t()
                m.bias[i, 0] = state[f"body.{j}.bias"]
            elif isinstance(m, SConv2d):
                f = m.weight.shape[0] // m.k
                m.weight[i * f:(i + 1) * f] = state[f"body.{j}.weight"]
                m.bias[i * f:(i + 1) * f] = state[f"body.{j}.bias"]


def unsupported_reason(prep: Prepared) -> str | None:
    if prep.loss.name == "ctc":
        return "the ctc loss has no stacked version"
    for i, layer in enumerate(prep.preset.model.layers):
        kind = layer.type  # type: ignore[attr-defined]
        if kind not in SUPPORTED:
            return f"model.layers[{i}] ({kind}) has no stacked version"
        if getattr(layer, "activation", "") == "prelu":
            return f"model.layers[{i}] uses prelu, whose weight has no stacked version"
    return None


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
    counts = {math.ceil(len(s.train_idx) / setup.batch_size) for s in splits}
    if len(counts) > 1:
        return one_each, (f"the folds' training parts need different numbers of batches "
                          f"({', '.join(map(str, sorted(counts)))}) at batch size {setup.batch_size}")
    return [splits], None


def _pad(rows: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged index rows -> (K, longest) indices and 0/1 weights for the padding."""
    longest = max(len(r) for r in rows)
    idx = torch.zeros(len(rows), longest, dtype=torch.long, device=device)
    w = torch.zeros(len(rows), longest, device=device)
    for k, r in enumerate(rows):
        idx[k, :len(r)] = r
        w[k, :len(r)] = 1.0
    return idx, w


class StackedTrainee:
    def __init__(self, net: StackedNet, setup: Setup, train: TrainSpec, x: torch.Tensor,
                 y: torch.Tensor, norm: Normalizer, splits: list[Split], test_idx: np.ndarray,
                 seeds: list[int], trains: list[TrainSpec] | None = None) -> None:
        # x: every sample once, raw; each member's statistics are applied per batch by `norm`
        # (K, 1, ...), so K members share one copy of the data.
        self.net, self.setup, self.x, self.y, self.norm = net, setup, x, y, norm
        members = net.member_index()
        flat, _ = flatten_parameters(net)
        # Sweep variants stacked together: each member steps with its own settings.
        self.opt = stacked_optimizer(flat, members, trains or [train])
        dev = setup.device
        self.k = len(splits)
        self.train_idx = [torch.as_tensor(s.train_idx, device=dev) for s in splits]
        self.gens = [torch.Generator(device=dev).manual_seed(s) for s in seeds]
        self.sizes = torch.tensor([len(s.train_idx) for s in splits], device=dev,
                                  dtype=torch.float32)
        self.order, self.w = _pad(self.train_idx, dev)
        n, b = self.order.shape[1], setup.batch_size
        self.batches = math.ceil(n / b)
        self.ragged = bool((self.w[:, -1] == 0).any())
        # Real samples of each fold in each batch: a batch mean weighs by them in the epoch mean.
        self.counts = F.pad(self.w, (0, self.batches * b - n)).reshape(
            self.k, self.batches, b).sum(2).t()
        self.parts = {"val": _pad([torch.as_tensor(s.val_idx, device=dev) for s in splits], dev)}
        if len(test_idx):
            t = torch.as_tensor(test_idx, device=dev).expand(self.k, -1)
            self.parts["test"] = (t, torch.ones(t.shape, device=dev))

    def _per_sample_loss(self, logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.setup.loss.per_sample(logits, yb, self.net.head, lead=2)

    def train_epoch(self, stop: StopToken, progress: Progress | None) -> torch.Tensor | None:
        net, opt, b = self.net, self.opt, self.setup.batch_size
        order, w, ragged, batches = self.order, self.w, self.ragged, self.batches
        for k, (idx, g) in enumerate(zip(self.train_idx, self.gens, strict=True)):
            order[k, :len(idx)] = idx[torch.randperm(len(idx), device=idx.device, generator=g)]
        n = order.shape[1]
        losses, outputs = [], []
        net.train()
        amp = autocast_for(self.setup)
        for i, s in enumerate(range(0, n, b)):
            if stop.requested:
                return None
            idx = order[:, s:s + b]
            yb = self.y[idx]
            with amp:
                logits = net(self.norm(self.x[idx]))
                if ragged and s + b >= n:  # the last batch: folds may have one sample less
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
                progress(i, batches)
        values = [(torch.stack(losses).float() * self.counts).sum(0) / self.sizes]
        if self.setup.metrics:
            values += self._metrics(torch.cat(outputs, 1).float(), self.y[order], w)
        return torch.stack(values, 1)

    def _metrics(self, logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        head, form = self.net.head, self.setup.loss.target
        return [(METRICS[m](logits, y, head, form, 2) * w).sum(1) / w.sum(1)
                for m in self.setup.metrics]

    @torch.no_grad()
    def evaluate(self, part: str) -> torch.Tensor:
        idx, w = self.parts[part]
        self.net.eval()
        sums = torch.zeros(self.k, 1 + len(self.setup.metrics), device=self.x.device)
        with autocast_for(self.setup):
            for s in range(0, idx.shape[1], EVAL_CHUNK):
                ic, wc = idx[:, s:s + EVAL_CHUNK], w[:, s:s + EVAL_CHUNK]
                logits = self.net(self.norm(self.x[ic])).float()
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

    def snapshot(self, i: int) -> dict[str, torch.Tensor]:
        return self.net.unstack(i)

    def restore(self, i: int, state: dict[str, torch.Tensor]) -> None:
        self.net.restore(i, state)


def train_group(exp: Experiment, group: list[Split]) -> None:
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
        exp.bus.emit(FoldStarted(info.repeat, info.fold, info.train_size, info.val_size))
    outcomes = run_epochs(trainee, infos, exp.setup, exp.emit, exp.stop,
                          checkpoint=exp.checkpointer(group))
    tests = exp.test_scores(trainee, len(group)) if "test" in trainee.parts else [{}] * len(group)
    for i, out in enumerate(outcomes):
        exp.finish_fold(out, tests[i], trainee.snapshot(i), pres[i], group[i].val_idx)
