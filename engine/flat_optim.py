"""The optimizer step on one flat parameter buffer with a learning rate and a weight decay per
element, so stacked models (folds and sweep variants) each keep their own settings in one step.
The formulas are torch.optim's (single-tensor code path), with the same fused operations (addcmul
where torch adds with `alpha`), so a scalar setting gives bit-for-bit torch.optim's numbers; tests
compare them."""

from __future__ import annotations

import math

import torch

from dltui.engine.spec import TrainSpec


class FlatOptimizer:
    def __init__(self, param: torch.nn.Parameter, kind: str, lr: torch.Tensor,
                 weight_decay: torch.Tensor, momentum: float = 0.0) -> None:
        # Settings are kept in float64, as torch.optim keeps them in Python floats, and rounded to
        # float32 where torch rounds its scalar: that is what makes the numbers equal.
        self.param, self.kind, self.momentum = param, kind, momentum
        self.lr64, self.wd64 = lr.double(), weight_decay.double()
        self.lr, self.wd = self.lr64.to(param.dtype), self.wd64.to(param.dtype)
        self.decays = bool((weight_decay != 0).any())
        self.step_count = 0
        zeros = torch.zeros_like(param)
        if kind == "rmsprop":
            self.square_avg = zeros
            self.buf = torch.zeros_like(param) if momentum else None
        elif kind in ("adam", "adamw"):
            self.exp_avg, self.exp_avg_sq = zeros, torch.zeros_like(param)
        else:
            self.buf = None

    @torch.no_grad()
    def step(self) -> None:
        p, g = self.param, self.param.grad
        assert g is not None
        self.step_count += 1
        if self.kind == "rmsprop":  # Keras' rho and epsilon, as engine/optimizers.py
            if self.decays:
                g = g.addcmul(p, self.wd)
            self.square_avg.mul_(0.9).addcmul_(g, g, value=1 - 0.9)
            avg = self.square_avg.sqrt().add_(1e-7)
            if self.buf is not None:
                self.buf.mul_(self.momentum).addcdiv_(g, avg)
                p.addcmul_(self.buf, self.lr, value=-1)
            else:
                p.addcdiv_(g * self.lr, avg, value=-1)
        elif self.kind in ("adam", "adamw"):
            if self.kind == "adamw" and self.decays:
                p.mul_((1 - self.lr64 * self.wd64).to(p.dtype))
            elif self.decays:
                g = g.addcmul(p, self.wd)
            beta1, beta2 = 0.9, 0.999
            self.exp_avg.lerp_(g, 1 - beta1)
            self.exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bias1 = 1 - beta1 ** self.step_count
            bias2_sqrt = math.sqrt(1 - beta2 ** self.step_count)
            denom = (self.exp_avg_sq.sqrt() / bias2_sqrt).add_(1e-7)
            p.addcdiv_(self.exp_avg * (self.lr64 / bias1).to(p.dtype), denom, value=-1)
        else:  # sgd
            if self.decays:
                g = g.addcmul(p, self.wd)
            if self.momentum:
                if self.buf is None:
                    self.buf = torch.clone(g).detach()
                else:
                    self.buf.mul_(self.momentum).add_(g)
                g = self.buf
            p.addcmul_(g, self.lr, value=-1)

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = {"step": self.step_count}
        for name in ("square_avg", "buf", "exp_avg", "exp_avg_sq"):
            value = getattr(self, name, None)
            if isinstance(value, torch.Tensor):
                state[name] = value
        return {"state": {0: state}, "param_groups": [{"params": [0]}]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        values = state["state"][0]  # type: ignore[index]
        self.step_count = int(values.get("step", 0))
        for name, value in values.items():
            if name != "step" and isinstance(value, torch.Tensor):
                getattr(self, name).copy_(value) if getattr(self, name, None) is not None \
                    else setattr(self, name, value.clone())


def per_member(values: list[float], members: torch.Tensor) -> torch.Tensor:
    """A setting per stacked member, spread over the elements each member owns."""
    table = torch.tensor(values, dtype=torch.float64, device=members.device)
    return table[members]


def flat_optimizer(param: torch.nn.Parameter, members: torch.Tensor,
                   trains: list[TrainSpec]) -> FlatOptimizer:
    first = trains[0]
    return FlatOptimizer(param, first.optimizer, per_member([t.learning_rate for t in trains], members),
                         per_member([t.weight_decay for t in trains], members), first.momentum)
