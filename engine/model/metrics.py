"""Metric registry. A metric gives one value per sample, on the device; the loop sums them per batch
and divides once per epoch, so reading a metric never forces a host sync inside the batch loop.

`lead` is the number of leading batch axes: 1 for one model, 2 for K stacked models (K, B, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .losses import Head, apply_head, per_sample_mean

MetricFn = Callable[[torch.Tensor, torch.Tensor, Head, str, int], torch.Tensor]


def _predicted_class(logits: torch.Tensor, head: Head) -> torch.Tensor:
    if head == "sigmoid":
        return (logits > 0).squeeze(-1)
    return logits.argmax(-1)


def _true_class(y: torch.Tensor, form: str) -> torch.Tensor:
    if form == "one_hot":
        return y.argmax(-1)
    if form == "column":
        return (y > 0.5).squeeze(-1)
    return y


def accuracy(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    hits = (_predicted_class(logits, head) == _true_class(y, form)).float()
    return per_sample_mean(hits, lead)


def mae(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    return per_sample_mean((apply_head(logits, head) - y).abs(), lead)


def mse(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str, lead: int) -> torch.Tensor:
    return per_sample_mean((apply_head(logits, head) - y).square(), lead)


def greedy_decode(logits: torch.Tensor) -> list[list[int]]:
    """Best path decoding: the likeliest class per frame, repeats collapsed, blanks (0) dropped."""
    best = logits.argmax(-1).cpu().tolist()
    out = []
    for frames in best:
        symbols, previous = [], 0
        for s in frames:
            if s != previous and s != 0:
                symbols.append(s)
            previous = s
        out.append(symbols)
    return out


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning a into b."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _targets(y: torch.Tensor) -> list[list[int]]:
    return [[s for s in row if s > 0] for row in y.cpu().tolist()]


def _per_sequence(logits: torch.Tensor, y: torch.Tensor,
                  score: Callable[[list[int], list[int]], float]) -> torch.Tensor:
    """A score per (decoded, target) pair; K stacked models' (K, B, ...) axes are kept."""
    lead = logits.shape[:-2]
    flat_logits = logits.reshape(-1, *logits.shape[-2:])
    flat_y = y.reshape(-1, y.shape[-1])
    values = [score(d, t) for d, t in zip(greedy_decode(flat_logits), _targets(flat_y), strict=True)]
    return torch.tensor(values, device=logits.device).reshape(lead)


def symbol_error_rate(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str,
                      lead: int) -> torch.Tensor:
    """Edits needed to turn the decoded string into the target, per target symbol."""
    return _per_sequence(logits, y, lambda d, t: edit_distance(d, t) / max(len(t), 1))


def sequence_accuracy(logits: torch.Tensor, y: torch.Tensor, head: Head, form: str,
                      lead: int) -> torch.Tensor:
    return _per_sequence(logits, y, lambda d, t: float(d == t))


METRICS: dict[str, MetricFn] = {"accuracy": accuracy, "mae": mae, "mse": mse,
                                "ser": symbol_error_rate, "sequence_accuracy": sequence_accuracy}
SEQUENCE_METRICS = {"ser", "sequence_accuracy"}  # need decoded strings: the ctc loss only

# Which way is better, for picking the best epoch of a curve.
HIGHER_IS_BETTER = {"accuracy": True, "mae": False, "mse": False, "loss": False, "ser": False,
                    "sequence_accuracy": True}

