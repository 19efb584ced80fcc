"""The training step of a stacked multilayer perceptron (Dense layers, ReLU between them) with
its backward written out: the loss's gradient with respect to the logits in closed form (mse,
mae, binary and categorical crossentropy), then the batched matmuls autograd would run, written
straight into the flat gradient buffer, plus each member's L1/L2 term on the kernels. For the
small models K-fold is used on, autograd's per-node bookkeeping costs more than the arithmetic
(208 us of a 4x16x(10-64-64-1) step against 82 us written out, measured here); results equal
autograd's to float rounding (tested)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model.losses import Loss
from .layers import SLinear

# loss name -> the head it must end with, for the closed-form gradient below
_FUSABLE_LOSSES = {"mse": None, "mae": None, "binary_crossentropy": "sigmoid",
                   "categorical_crossentropy": "softmax",
                   "sparse_categorical_crossentropy": "softmax"}


def fusable(mods: list[nn.Module], loss: Loss, head: str | None, sample_shape: tuple[int, ...]
            ) -> bool:
    """Dense layers (with biases, any L1/L2 term) and ReLUs only on vector samples (batched
    matmuls take three axes), a loss written out below."""
    if loss.name not in _FUSABLE_LOSSES or _FUSABLE_LOSSES[loss.name] != head:
        return False
    if len(sample_shape) != 1:
        return False
    if not mods or not isinstance(mods[0], SLinear):
        return False
    previous: nn.Module | None = None
    for m in mods:
        if isinstance(m, SLinear):
            if not m.bias.requires_grad:
                return False
        elif not isinstance(m, nn.ReLU) or not isinstance(previous, SLinear):
            return False
        previous = m
    return True


def _dloss(name: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d loss-element / d logits, per element (the mean's scale applied by the caller)."""
    if name == "mse":
        return 2.0 * (logits - y)
    if name == "mae":
        return torch.sign(logits - y)
    if name == "binary_crossentropy":
        return torch.sigmoid(logits) - y
    probs = torch.softmax(logits, dim=-1)
    if name == "sparse_categorical_crossentropy":
        return probs - F.one_hot(y, logits.shape[-1]).to(probs.dtype)
    return probs - y


class FusedMLP:
    """Forward and hand-written backward of a fusable stacked body; the gradients land in the
    parameters' `.grad` (views into the optimizer's flat buffer), whole: no zeroing needed.

    The weights, their transposes and the gradient views are taken once: restoring or loading
    a state copies into the same storage, so they stay current (and module attribute lookups
    cost more than a small matmul)."""

    def __init__(self, mods: list[nn.Module], loss: Loss, head: str | None,
                 penalties: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        """`penalties`: module index -> each member's (l1, l2) factors, shape (K,)."""
        self.loss, self.head = loss, head
        self._ones: dict[int, torch.Tensor] = {}  # (K, 1, B) per batch size: bias gradients
        # per Dense layer: weight (K, in, out), its transpose, bias (K, 1, out), their
        # gradients, and whether a ReLU follows
        self.plan: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                              torch.Tensor, bool]] = []
        # per Dense layer: (l1, 2 * l2) as (K, 1, 1), None where a member set has no such term
        self.terms: list[tuple[torch.Tensor | None, torch.Tensor | None]] = []
        for index, m in enumerate(mods):
            if isinstance(m, SLinear):
                w, b = m.weight.detach(), m.bias.detach()
                assert m.weight.grad is not None and m.bias.grad is not None
                self.plan.append((w, w.transpose(1, 2), b, m.weight.grad, m.bias.grad, False))
                l1, l2 = (penalties or {}).get(index, (torch.zeros(1), torch.zeros(1)))
                self.terms.append(
                    (l1.to(w).reshape(-1, 1, 1) if l1.any() else None,
                     (2 * l2).to(w).reshape(-1, 1, 1) if l2.any() else None))
            else:
                assert not (penalties or {}).get(index), "penalties sit on Dense layers"
                self.plan[-1] = (*self.plan[-1][:5], True)

    def _grad_of_loss(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
        """d loss-element / d logits as a tensor and a factor (before the mean's scale)."""
        if self.loss.name == "mse":  # the K-fold regression case, in the fewest ops
            return logits - y, 2.0
        return _dloss(self.loss.name, logits, y), 1.0

    def forward(self, x: torch.Tensor, outputs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The logits, without a module call per layer (under no_grad); each layer's output is
        appended to `outputs` when given (the backward needs them)."""
        h = x
        for w, _, b, _, _, relu in self.plan:
            h = torch.baddbmm(b, h, w)
            if relu:
                h = torch.relu_(h)
            if outputs is not None:
                outputs.append(h)
        return h

    def step(self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """Forward and backward for one batch (K, B, ...), under `torch.no_grad()` (the
        caller's, once per epoch); returns the logits. The loss's value is not computed here:
        the caller takes a whole epoch's from its logits at once (a reduction per step costs
        more than the arithmetic). `weights` (K, B): the ragged last batch's 0/1 padding."""
        outputs: list[torch.Tensor] = []
        logits = self.forward(x, outputs)
        inputs = [x, *outputs[:-1]]  # each layer's input is the previous layer's output
        per_element, factor = self._grad_of_loss(logits, y)
        # loss elements per sample: crossentropies reduce the class axis
        rest = 1 if self.head == "softmax" else logits.shape[-1]
        # in place: per_element is this step's own new tensor
        if weights is None:
            g = per_element.mul_(factor / (logits.shape[1] * rest))
        else:
            scale = weights * factor / (weights.sum(1, keepdim=True) * rest)
            g = per_element.mul_(scale.reshape(*scale.shape, *([1] * (logits.dim() - 2))))
        ones = self._ones.get(g.shape[1])
        if ones is None:
            ones = self._ones[g.shape[1]] = g.new_ones(g.shape[0], 1, g.shape[1])
        for i in range(len(self.plan) - 1, -1, -1):
            w, wt, _, wgrad, bgrad, relu = self.plan[i]
            if relu:
                g = torch.ops.aten.threshold_backward(g, outputs[i], 0)
            torch.bmm(inputs[i].mT, g, out=wgrad)  # .mT: the cheapest view of a transpose
            l1, l2x2 = self.terms[i]
            if l2x2 is not None:  # d(l2 * w^2)/dw = 2 * l2 * w, each member its own l2
                wgrad.addcmul_(w, l2x2)
            if l1 is not None:  # d(l1 * |w|)/dw = l1 * sign(w), as autograd takes it at 0
                wgrad.addcmul_(torch.sign(w), l1)
            torch.bmm(ones, g, out=bgrad)  # the batch sum as a product: cheaper than sum
            if i:
                g = torch.bmm(g, wt)
        return logits
