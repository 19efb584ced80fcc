"""Progress for a notebook or a plain terminal, as Keras's `fit(verbose=2)` prints it: a line
per epoch with the losses and metrics, a line per finished training and for the run. Plain
text on a stream (no cursor tricks), so a notebook cell, a log file and a pipe read the same."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from ..events import EpochEnded, Event, FoldEnded, Notice, RunEnded, RunStarted, printable


def _values(prefix: str, values: dict[str, float]) -> list[str]:
    return [f"{prefix}{k}: {v:.4g}" for k, v in values.items() if v == v]


class ProgressPrinter:
    """An event subscriber: `bus.subscribe(ProgressPrinter())`, or `Experiment.run(progress=True)`.
    Long trainings print about 25 epochs each (and always the last)."""

    def __init__(self, out: TextIO | None = None, lines_per_training: int = 25) -> None:
        self.out = out
        self.lines = lines_per_training

    def _say(self, text: str) -> None:
        print(printable(text), file=self.out or sys.stdout, flush=True)

    def __call__(self, e: Event) -> None:
        if isinstance(e, RunStarted):
            self._say(f"{e.preset}: {e.data}; {e.params:,} parameters; {e.scheme}, "
                      f"{e.trainings} training(s) x {e.epochs} epochs on {e.device}")
        elif isinstance(e, Notice) and e.level == "warning":
            self._say(f"warning: {e.message}")
        elif isinstance(e, EpochEnded):
            step = max(1, math.ceil(e.epochs / self.lines))
            if e.epoch % step and e.epoch != e.epochs and e.epoch != 1:
                return
            where = "final fit" if e.fold < 0 else f"r{e.repeat} f{e.fold}"
            parts = [f"{where} epoch {e.epoch}/{e.epochs}", f"{e.seconds:.2f}s",
                     *_values("", e.train), *_values("val_", e.val)]
            self._say(" - ".join(parts))
        elif isinstance(e, FoldEnded):
            where = f"r{e.repeat} f{e.fold}" if e.fold >= 0 else "final fit"
            best = ", ".join(_values("val_", e.best))
            self._say(f"{where}: best epoch {e.best_epoch} of {e.epochs_run} ({best})")
        elif isinstance(e, RunEnded):
            from .summary import headline

            said = headline(e.summary)
            self._say(f"{e.status} in {e.seconds:.1f} s" + (f": {said}" if said else "")
                      + (f" ({e.message})" if e.message and e.status != "done" else ""))
