"""Dropout as dltui trains it: masks from the training's own generator, so a model trained alone
and the same model stacked with others (stacking/layers.py's SDropout) draw the same masks."""

from __future__ import annotations

import torch
from torch import nn


class MemberDropout(nn.Dropout):
    """Dropout whose masks come from the generator of the model's own training (its trainee's
    shuffle generator), not torch's global one: a model trained alone and the same model stacked
    with others draw the same masks in the same order, so stacked results equal sequential ones.
    Without a generator (a model outside a dltui training) it draws from the global one."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)
