"""dltui's optimizers: in-place elementwise updates on one flat parameter buffer.

torch.optim's step loops in Python over every parameter tensor (a third of a small model's step
time) and creating one imports torch's compiler stack (about a second of start-up). dltui's
optimizers are all elementwise, so the whole model steps as one tensor: the parameters are
re-homed as views into a flat buffer, and the gradients into a second one, which autograd fills
in place. Stacked models (folds, sweep variants) get a learning rate and a weight decay per
element instead.

The update is Keras's (the book's numbers were made with it): RMSprop steps
lr * g / sqrt(v + eps) and Adam lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), with
Keras's eps 1e-7. torch puts eps outside RMSprop's root and scales Adam's by the bias
correction: with gradients near 1e-4 torch's RMSprop steps are 4x Keras's, near 1e-6 325x.
`train.update_rule = "torch"` gives torch.optim's numbers bit for bit (tests compare both).
"""

from __future__ import annotations

import math
from typing import get_args

import torch
from torch import nn

from ..spec import OptimizerName, TrainSpec

Setting = float | torch.Tensor  # a Python float, or one value per element of the flat buffer
RHO, EPS = 0.9, 1e-7  # Keras' RMSprop defaults (torch's alpha and eps)
BETAS = (0.9, 0.999)
# torch's CPU sqrt is slow on zeros and values under ~1e-31 (measured on 20k floats: 9 us,
# against 45 us for zeros and 290 us for 1e-38), and a running average of squared gradients is
# full of zeros (units that never fire). Clamping to a floor first changes no result when the
# floor's root (divided by torch-Adam's smallest bias correction, 0.0316) is under half a unit
# in the last place of EPS (3.55e-15): EPS + that rounds to EPS exactly as EPS + 0 does (tests
# compare bit for bit). Keras's RMSprop takes the root of v + EPS, which never gets that small.
FLOOR_RMSPROP, FLOOR_ADAM = 1e-30, 1e-32
OPTIMIZERS = get_args(OptimizerName)  # rmsprop first: the book's default


def flatten_parameters(net: nn.Module) -> tuple[nn.Parameter, torch.Tensor]:
    """Re-home every parameter (and its gradient) as a view into one flat buffer; returns the
    buffer as one parameter and its gradient. Autograd accumulates into the `.grad` views."""
    params = list(net.parameters())
    total = sum(p.numel() for p in params)
    ref = params[0]
    flat = torch.empty(total, dtype=ref.dtype, device=ref.device)
    grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        flat[offset:offset + n].copy_(p.detach().reshape(-1))
        p.data = flat[offset:offset + n].view_as(p)
        p.grad = grad[offset:offset + n].view_as(p)
        offset += n
    whole = nn.Parameter(flat)
    whole.grad = grad
    return whole, grad


def _root(t: torch.Tensor, floor: float) -> torch.Tensor:
    """sqrt(t) for t >= 0, but for values that vanish next to EPS (see the floors), in a new
    tensor."""
    return t.clamp_min(floor).sqrt_()


class FlatOptimizer:
    """rmsprop, sgd, adam or adamw on one flat parameter whose `.grad` is filled in place."""

    def __init__(self, param: nn.Parameter, kind: str, lr: Setting, weight_decay: Setting,
                 momentum: float = 0.0, rule: str = "keras") -> None:
        self.param, self.kind, self.momentum, self.keras = param, kind, momentum, rule == "keras"
        self.per_element = isinstance(lr, torch.Tensor)
        if isinstance(lr, torch.Tensor):
            assert isinstance(weight_decay, torch.Tensor)
            # Kept in float64, as torch.optim keeps Python floats, and rounded to the
            # parameter's dtype where torch rounds its scalar: that keeps the numbers equal.
            self.lr64, self.wd64 = lr.double(), weight_decay.double()
            self.lr: Setting = self.lr64.to(param.dtype)
            self.wd: Setting = self.wd64.to(param.dtype)
            self.decays = bool((weight_decay != 0).any())
        else:
            self.lr, self.wd = float(lr), float(weight_decay)
            self.decays = self.wd != 0
        self.step_count = 0
        self.square_avg = self.exp_avg = self.exp_avg_sq = self.buf = None
        if kind == "rmsprop":
            self.square_avg = torch.zeros_like(param)
            self.buf = torch.zeros_like(param) if momentum else None
        elif kind in ("adam", "adamw"):
            self.exp_avg, self.exp_avg_sq = torch.zeros_like(param), torch.zeros_like(param)

    def set_rates(self, rates: list[float], members: torch.Tensor) -> None:
        """Stacked members' learning rates, one each, from now on."""
        if not self.per_element and len(set(rates)) == 1:
            self.lr = float(rates[0])
            return
        if not self.per_element:  # the members' rates part: each element gets its own
            self.per_element = True
            self.wd64 = torch.full_like(self.param, float(self.wd), dtype=torch.float64)
            self.wd = self.wd64.to(self.param.dtype)
        self.lr64 = per_member(rates, members)
        self.lr = self.lr64.to(self.param.dtype)

    def zero_grad(self) -> None:
        assert self.param.grad is not None
        self.param.grad.zero_()  # in place: the parameters' .grad are views into it

    def _scaled(self, t: torch.Tensor, s: Setting) -> torch.Tensor:
        return t * s if isinstance(s, torch.Tensor) else t.mul(s)

    def _decayed(self, g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if not self.decays:
            return g
        return g.addcmul(p, self.wd) if isinstance(self.wd, torch.Tensor) else g.add(p, alpha=self.wd)

    @torch.no_grad()
    def step(self) -> None:
        self.update()

    def update(self) -> None:
        """The step itself, for a caller already under `torch.no_grad()` (once per epoch)."""
        p, g = self.param, self.param.grad
        assert g is not None
        self.step_count += 1
        lr = self.lr
        if self.kind == "rmsprop":
            g = self._decayed(g, p)
            assert self.square_avg is not None
            self.square_avg.mul_(RHO).addcmul_(g, g, value=1 - RHO)
            if self.keras:
                avg = self.square_avg.add(EPS).sqrt_()
            else:
                avg = _root(self.square_avg, FLOOR_RMSPROP).add_(EPS)
            if self.buf is not None:
                self.buf.mul_(self.momentum).addcdiv_(g, avg)
                if isinstance(lr, torch.Tensor):
                    p.addcmul_(self.buf, lr, value=-1)
                else:
                    p.add_(self.buf, alpha=-lr)
            elif isinstance(lr, torch.Tensor):
                p.addcdiv_(g * lr, avg, value=-1)
            else:
                p.addcdiv_(g, avg, value=-lr)
        elif self.kind in ("adam", "adamw"):
            self._adam_step(p, g)
        else:  # sgd
            g = self._decayed(g, p)
            if self.momentum:
                if self.step_count == 1:
                    self.buf = torch.clone(g).detach()
                else:
                    assert self.buf is not None
                    self.buf.mul_(self.momentum).add_(g)
                g = self.buf
            if isinstance(lr, torch.Tensor):
                p.addcmul_(g, lr, value=-1)
            else:
                p.add_(g, alpha=-lr)

    def _adam_step(self, p: torch.Tensor, g: torch.Tensor) -> None:
        assert self.exp_avg is not None and self.exp_avg_sq is not None
        if self.kind == "adamw" and self.decays:
            if isinstance(self.lr, torch.Tensor):
                p.mul_((1 - self.lr64 * self.wd64).to(p.dtype))
            else:
                p.mul_(1 - self.lr * float(self.wd))
        else:
            g = self._decayed(g, p)
        beta1, beta2 = BETAS
        self.exp_avg.lerp_(g, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias1 = 1 - beta1 ** self.step_count
        bias2_sqrt = math.sqrt(1 - beta2 ** self.step_count)
        if self.keras:  # eps added to the raw root; the bias corrections fold into the rate
            denom = _root(self.exp_avg_sq, FLOOR_RMSPROP).add_(EPS)
            scale = bias2_sqrt / bias1
        else:
            denom = _root(self.exp_avg_sq, FLOOR_ADAM).div_(bias2_sqrt).add_(EPS)
            scale = 1 / bias1
        if isinstance(self.lr, torch.Tensor):
            p.addcdiv_(self.exp_avg * (self.lr64 * scale).to(p.dtype), denom, value=-1)
        else:
            p.addcdiv_(self.exp_avg, denom, value=-(self.lr * scale))

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = {"step": self.step_count}
        for name in ("square_avg", "buf", "exp_avg", "exp_avg_sq"):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor):
                state[name] = value
        return {"state": {0: state}, "param_groups": [{"params": [0]}]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        values = state["state"][0]  # type: ignore[index]
        self.step_count = int(values.get("step", 0))
        for name, value in values.items():
            if name == "step" or not isinstance(value, torch.Tensor):
                continue
            mine = getattr(self, name)
            if mine is not None:
                mine.copy_(value)
            else:
                setattr(self, name, value.clone())


def make_optimizer(net: nn.Module, train: TrainSpec) -> FlatOptimizer:
    """The optimizer of one model (its parameters re-homed into one flat buffer)."""
    flat, _ = flatten_parameters(net)
    return FlatOptimizer(flat, train.optimizer, train.learning_rate, train.weight_decay,
                         train.momentum, train.update_rule)


def per_member(values: list[float], members: torch.Tensor) -> torch.Tensor:
    """A setting per stacked member, spread over the elements each member owns."""
    table = torch.tensor(values, dtype=torch.float64, device=members.device)
    return table[members]


def stacked_optimizer(flat: nn.Parameter, members: torch.Tensor,
                      trains: list[TrainSpec]) -> FlatOptimizer:
    """One optimizer for stacked models: a scalar setting when all members share it."""
    first = trains[0]
    if all((t.learning_rate, t.weight_decay) == (first.learning_rate, first.weight_decay)
           for t in trains):
        return FlatOptimizer(flat, first.optimizer, first.learning_rate, first.weight_decay,
                             first.momentum, first.update_rule)
    return FlatOptimizer(flat, first.optimizer,
                         per_member([t.learning_rate for t in trains], members),
                         per_member([t.weight_decay for t in trains], members), first.momentum,
                         first.update_rule)
