"""What stacked training needs from the run it trains for, as a protocol. The experiment calls
stacking and satisfies this; stacking never imports the experiment, so the two cannot form a
circle and stacking can be read (and tested) on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..data.preprocess import Preprocessing
    from ..data.splits import Split
    from ..errors import TrainingFailure
    from ..events import Event, EventBus, StopToken
    from ..model.build import Net
    from ..preflight import Prepared
    from ..train.checkpoints import Checkpointer
    from ..train.loop import FoldInfo, FoldOutcome, Setup


class FoldHost(Protocol):
    """One run's side of a stacked training: its data, settings, events and results."""

    prep: Prepared
    setup: Setup
    bus: EventBus
    stop: StopToken
    finished: set[tuple[int, int]]  # (repeat, fold) of trainings a resumed run already has
    failure: TrainingFailure | None

    def emit(self, event: Event) -> None: ...

    def fold_started(self, info: FoldInfo) -> None: ...

    def fit(self, train_idx: np.ndarray) -> Preprocessing: ...

    def device_data(self) -> tuple[torch.Tensor, torch.Tensor]: ...

    def new_net(self, seed: int) -> Net: ...

    def checkpointer(self, splits: list[Split] | None) -> Checkpointer | None: ...

    def test_scores(self, trainee: Any, k: int) -> list[dict[str, float]]: ...

    def finish_fold(self, out: FoldOutcome, test: dict[str, float], state: dict[str, torch.Tensor],
                    pre: Preprocessing, val_idx: np.ndarray) -> None: ...
