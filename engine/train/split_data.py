"""One split's view of the data for a single model's training: no part is copied."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.preprocess import Normalizer


@dataclass(frozen=True)
class SplitData:
    """One split's view of the data: every sample once (raw, on the device), each part as
    indices into it, and the split's preprocessing applied per batch. No part is copied."""

    x: torch.Tensor
    y: torch.Tensor  # every target, in the form the loss wants
    idx: dict[str, torch.Tensor]  # "train", "val", "test" -> sample indices
    norm: Normalizer

    @property
    def streams(self) -> bool:
        """x stays in host memory (too big for the device): batches are gathered on the host
        and copied over asynchronously, overlapping the device's work on the previous one."""
        return self.x.device != self.y.device

    def rows(self, idx: torch.Tensor, host_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Samples `idx` on the device, raw. Streaming, `host_idx` is the same indices on the
        host (taken once per epoch, so no batch waits for the device)."""
        if not self.streams:
            return self.x[idx]
        hidx = host_idx if host_idx is not None else idx.cpu()
        return self.x[hidx].pin_memory().to(self.y.device, non_blocking=True)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.idx[name]
        return self.norm(self.rows(i)), self.y[i]
