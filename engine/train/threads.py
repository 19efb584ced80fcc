"""How many CPU threads a run's arithmetic uses. torch's default (one per core) helps only when
each operation is big enough to split: a small model's step is a hundred tiny operations whose
thread hand-offs cost more than they save, and with one busy neighbour on a 2-core machine they
made small runs 3.5x slower, while one thread was unaffected. So small models get one thread and
big ones every core; `train.threads` overrides. Threshold measured in bench/RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Multiply-adds per batch (forward) below which one thread was faster on a 2-core machine:
# 1.1M: 0.98x, 3.3M: 0.86x, 21.6M: 0.63x of one thread's step time with two.
SMALL_STEP_MACS = 2_000_000


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    why: str


def choose_threads(requested: int | None, macs_per_step: int, device: torch.device,
                   available: int | None = None) -> ThreadChoice:
    cores = available or torch.get_num_threads()
    if requested:
        return ThreadChoice(requested, "train.threads")
    if device.type == "cuda":
        return ThreadChoice(cores, "the GPU does the arithmetic")
    per_batch = f"{macs_per_step / 1e6:.2g}M multiply-adds per batch"
    if macs_per_step < SMALL_STEP_MACS or cores == 1:
        return ThreadChoice(1, f"small steps: {per_batch}")
    return ThreadChoice(cores, per_batch)

