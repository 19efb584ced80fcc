"""Loss registry: each loss knows the target form it needs and which task/last layer it fits.

Crossentropies are computed from the logits before the final sigmoid/softmax (as Keras does inside),
which is exact and numerically safe; the model still outputs probabilities to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .pairing import LOSS_KINDS, Head, LossKind, check_pairing, n_outputs_for

__all__ = ["LOSSES", "Head", "Loss", "check_pairing", "n_outputs_for"]


@dataclass(frozen=True)
class Loss(LossKind):
    """A loss kind (model/pairing.py) with its computation."""

    # Loss per element, leading (batch) axes kept: its mean over everything after the batch
    # axes is the loss. For crossentropies the class axis is already reduced.
    elementwise: Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]
    # The batch mean through torch's fused kernels: the single-model hot path.
    mean: Callable[[torch.Tensor, torch.Tensor, Head], torch.Tensor]

    def per_sample(self, logits: torch.Tensor, y: torch.Tensor, head: Head,
                   lead: int = 1) -> torch.Tensor:
        return per_sample_mean(self.elementwise(logits, y, head), lead)


def per_sample_mean(values: torch.Tensor, lead: int) -> torch.Tensor:
    """Average everything after the `lead` batch axes (1 for a model, 2 for K stacked models)."""
    return values.flatten(lead).mean(-1) if values.dim() > lead else values


def apply_head(logits: torch.Tensor, head: Head) -> torch.Tensor:
    if head == "sigmoid":
        return torch.sigmoid(logits)
    if head == "softmax":
        return torch.softmax(logits, dim=-1)
    return logits


def _bce(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y, reduction="none")


def _bce_mean(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, y)


def _cce(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    # torch wants the class axis second: (N, C, d1, ...), so (K, B, C) becomes (K, C, B).
    target = y.movedim(-1, 1) if y.is_floating_point() else y
    return F.cross_entropy(logits.movedim(-1, 1), target, reduction="none")


def _cce_mean(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    if logits.dim() == 2:
        return F.cross_entropy(logits, y)
    return _cce(logits, y, head).mean()


def _mse(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return (apply_head(logits, head) - y).square()


def _mse_mean(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return F.mse_loss(apply_head(logits, head), y)


def _mae(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return (apply_head(logits, head) - y).abs()


def _mae_mean(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return F.l1_loss(apply_head(logits, head), y)


def target_lengths(y: torch.Tensor) -> torch.Tensor:
    """CTC targets are symbol ids padded with 0 (the blank never appears in a target)."""
    return (y > 0).sum(-1)


def ctc_frames_needed(y: np.ndarray) -> np.ndarray:
    """Output timesteps each CTC target needs to be aligned at all: one per symbol, plus one
    blank between each pair of equal neighbours (`1 1 1` needs 5). Fewer, and the loss is
    infinite (torch's zero_infinity would silently make it 0)."""
    symbols = y > 0
    repeats = symbols[:, 1:] & (y[:, 1:] == y[:, :-1])
    return symbols.sum(1) + repeats.sum(1)


def _ctc(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    lead = logits.shape[:-2]  # (B,) for one model, (K, B) for K stacked ones
    if len(lead) > 1:
        flat = _ctc(logits.reshape(-1, *logits.shape[-2:]), y.reshape(-1, y.shape[-1]), head)
        return flat.reshape(lead)
    # (B, T, C) scores -> (T, B, C) log-probabilities, as torch's ctc_loss wants them.
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)
    lengths = target_lengths(y)
    frames = torch.full_like(lengths, logits.shape[1])
    per = F.ctc_loss(log_probs, y, frames, lengths, blank=0, reduction="none", zero_infinity=True)
    return per / lengths.clamp(min=1)  # per symbol, as torch's "mean" reduction does


def _ctc_mean(logits: torch.Tensor, y: torch.Tensor, head: Head) -> torch.Tensor:
    return _ctc(logits, y, head).mean()


_FUNCTIONS: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "binary_crossentropy": (_bce, _bce_mean),
    "categorical_crossentropy": (_cce, _cce_mean),
    "sparse_categorical_crossentropy": (_cce, _cce_mean),
    "mse": (_mse, _mse_mean),
    "mae": (_mae, _mae_mean),
    "ctc": (_ctc, _ctc_mean),
}
LOSSES: dict[str, Loss] = {
    name: Loss(kind.name, kind.target, kind.tasks, kind.head, *_FUNCTIONS[name])
    for name, kind in LOSS_KINDS.items()}

