"""What an expert would write to train K small MLPs at once, the peers of dltui's stacked folds
and sweeps (written without the engine):

- `bmm`: the K members' weights as (K, in, out) tensors, batches as (K, B, in), `torch.baddbmm`
  forward, autograd backward, RMSprop written out over the stacked tensors (a learning rate and an
  L2 factor per member).
- `vmap`: K `nn.Module`s stacked by `torch.func.stack_module_state`, called through
  `torch.func.functional_call` under `torch.vmap`, the same optimizer.

Each member trains on its own task (fold): its own shuffle each epoch, the same batch size, the
members' training parts cut to the shortest (the folds differ by a sample or two); each epoch
ends with every member's validation MAE on its own validation part, read once.
"""

from __future__ import annotations

import copy
import itertools
import statistics
from collections.abc import Sequence

import torch
from torch import nn

from .reference import Task


def _stack(tasks: Sequence[Task]) -> tuple[torch.Tensor, ...]:
    n = min(len(t.x_train) for t in tasks)
    v = min(len(t.x_val) for t in tasks)
    xt = torch.stack([torch.as_tensor(t.x_train[:n]) for t in tasks])
    yt = torch.stack([torch.as_tensor(t.y_train[:n], dtype=torch.float32) for t in tasks])[..., None]
    xv = torch.stack([torch.as_tensor(t.x_val[:v]) for t in tasks])
    yv = torch.stack([torch.as_tensor(t.y_val[:v], dtype=torch.float32) for t in tasks])[..., None]
    return xt, yt, xv, yv


def _rmsprop(params: list[torch.Tensor], squares: list[torch.Tensor], lr: torch.Tensor,
             l2: torch.Tensor | None, rho: float = 0.9, eps: float = 1e-7) -> None:
    """Keras's RMSprop on stacked tensors; `lr`/`l2` per member, broadcast over its weights."""
    with torch.no_grad():
        grads = [p.grad for p in params]
        if l2 is not None:  # kernel L2 (weights only: the 3-D tensors)
            for p, g in zip(params, grads, strict=True):
                if p.dim() == 3:
                    g.add_(p * (2 * l2.view(-1, 1, 1)))
        torch._foreach_mul_(squares, rho)
        torch._foreach_addcmul_(squares, grads, grads, value=1 - rho)
        denom = torch._foreach_sqrt(squares)
        torch._foreach_add_(denom, eps)
        steps = torch._foreach_div(grads, denom)
        for p, s in zip(params, steps, strict=True):
            p.sub_(s * lr.view(-1, *([1] * (p.dim() - 1))))
            p.grad = None


def train_bmm(tasks: Sequence[Task], width: int, lrs: Sequence[float] | None = None,
              l2s: Sequence[float] | None = None) -> float:
    """K members of in-width-width-1 MLPs as stacked tensors; the mean last validation MAE."""
    k, t0 = len(tasks), tasks[0]
    torch.manual_seed(t0.seed)
    xt, yt, xv, yv = _stack(tasks)
    sizes = [xt.shape[-1], width, width, 1]
    params: list[torch.Tensor] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = (6 / (fan_in + fan_out)) ** 0.5  # glorot uniform, zero biases (Keras)
        params.append(torch.empty(k, fan_in, fan_out).uniform_(-bound, bound).requires_grad_())
        params.append(torch.zeros(k, 1, fan_out, requires_grad=True))
    squares = [torch.zeros_like(p) for p in params]
    lr = torch.tensor(lrs or [t0.lr] * k)
    l2 = torch.tensor(l2s) if l2s is not None and any(l2s) else None
    n, b = xt.shape[1], t0.batch_size

    def forward(x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = params
        h = torch.baddbmm(b1, x, w1).relu()
        h = torch.baddbmm(b2, h, w2).relu()
        return torch.baddbmm(b3, h, w3)

    maes = torch.zeros(k)
    for _ in range(t0.epochs):
        order = torch.argsort(torch.rand(k, n), dim=1)  # each member its own shuffle
        xs = torch.gather(xt, 1, order[..., None].expand(-1, -1, xt.shape[-1]))
        ys = torch.gather(yt, 1, order[..., None])
        for s in range(0, n, b):
            # Summed over members, each member's gradient is its own mean-squared error's.
            loss = (forward(xs[:, s:s + b]) - ys[:, s:s + b]).square().mean(dim=(1, 2)).sum()
            loss.backward()
            _rmsprop(params, squares, lr, l2)
        with torch.no_grad():
            maes = (forward(xv) - yv).abs().mean(dim=(1, 2))
    return statistics.fmean(maes.tolist())


def train_vmap(tasks: Sequence[Task], width: int, lrs: Sequence[float] | None = None,
               l2s: Sequence[float] | None = None) -> float:
    """The same members as K nn.Modules, stacked with torch.func and run under vmap."""
    from torch.func import functional_call, stack_module_state

    k, t0 = len(tasks), tasks[0]
    torch.manual_seed(t0.seed)
    xt, yt, xv, yv = _stack(tasks)
    models = [nn.Sequential(nn.Linear(xt.shape[-1], width), nn.ReLU(), nn.Linear(width, width),
                            nn.ReLU(), nn.Linear(width, 1)) for _ in range(k)]
    stacked, _ = stack_module_state(models)  # type: ignore[arg-type]
    base = copy.deepcopy(models[0]).to("meta")
    names = list(stacked)
    params = [stacked[name] for name in names]
    squares = [torch.zeros_like(p) for p in params]
    lr = torch.tensor(lrs or [t0.lr] * k)
    l2 = torch.tensor(l2s) if l2s is not None and any(l2s) else None

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, p, (x,))

    forward = torch.vmap(one)
    n, b = xt.shape[1], t0.batch_size
    maes = torch.zeros(k)
    for _ in range(t0.epochs):
        order = torch.argsort(torch.rand(k, n), dim=1)
        xs = torch.gather(xt, 1, order[..., None].expand(-1, -1, xt.shape[-1]))
        ys = torch.gather(yt, 1, order[..., None])
        for s in range(0, n, b):
            out = forward(dict(zip(names, params, strict=True)), xs[:, s:s + b])
            (out - ys[:, s:s + b]).square().mean(dim=(1, 2)).sum().backward()
            # nn.Linear keeps (out, in) weights: the L2 rule above reads 3-D tensors as kernels.
            _rmsprop(params, squares, lr, l2)
        with torch.no_grad():
            maes = (forward(dict(zip(names, params, strict=True)), xv) - yv).abs().mean(dim=(1, 2))
    return statistics.fmean(maes.tolist())
