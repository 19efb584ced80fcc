"""Learning-rate schedules, one per model (each stacked member its own), stepped after every
epoch with that epoch's validation loss. `step`, `exponential` and `cosine` are
torch.optim.lr_scheduler's StepLR, ExponentialLR and CosineAnnealingLR in closed form (cosine
after an optional linear warm-up); `reduce_on_plateau` is Keras's ReduceLROnPlateau, whose
`patience` counts the epochs without improvement after which the rate drops (torch's
ReduceLROnPlateau drops one epoch later for the same number). Their state goes into
checkpoints, so a resumed training continues its schedule."""

from __future__ import annotations

import math
from typing import Any

from ..spec import LRSchedule


class Schedule:
    def __init__(self, spec: LRSchedule, base_lr: float, epochs: int) -> None:
        self.spec, self.base, self.epochs = spec, base_lr, epochs
        self.lr = self.rate_for(1)
        self.best = math.inf
        self.wait = 0
        self.cooling = 0

    def rate_for(self, epoch: int) -> float:
        """The rate of `epoch` (1-based) for the schedules that depend on the epoch alone."""
        s, t = self.spec, epoch - 1
        if s.kind == "step":
            return self.base * (0.1 if s.gamma is None else s.gamma) ** (t // s.step_size)
        if s.kind == "exponential":
            return self.base * (0.95 if s.gamma is None else s.gamma) ** t
        if s.kind == "cosine":
            if epoch <= s.warmup:
                return self.base * epoch / s.warmup
            span = max(1, self.epochs - s.warmup)
            k = epoch - s.warmup - 1
            return s.min_lr + (self.base - s.min_lr) * (1 + math.cos(math.pi * k / span)) / 2
        return self.base

    def after(self, epoch: int, val_loss: float) -> float:
        """The rate for the epoch after `epoch`, whose validation loss was `val_loss`."""
        s = self.spec
        if s.kind != "reduce_on_plateau":
            self.lr = self.rate_for(epoch + 1)
            return self.lr
        if self.cooling:
            self.cooling -= 1
            self.wait = 0
        if val_loss < self.best - s.min_delta:
            self.best, self.wait = val_loss, 0
        elif not self.cooling:
            self.wait += 1
            if self.wait >= s.patience and self.lr > s.min_lr:
                self.lr = max(self.lr * s.factor, s.min_lr)
                self.cooling, self.wait = s.cooldown, 0
        return self.lr

    def state(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": None if math.isinf(self.best) else self.best,
                "wait": self.wait, "cooling": self.cooling}

    def load(self, state: dict[str, Any]) -> None:
        self.lr, self.wait, self.cooling = float(state["lr"]), int(state["wait"]), int(state["cooling"])
        self.best = math.inf if state["best"] is None else float(state["best"])
