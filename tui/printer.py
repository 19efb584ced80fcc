"""What `dltui run` shows while it trains: a rich live display on a terminal, plain lines when
piped or under CI, one JSON object per event with `--json`. All consume the engine's events."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dltui.engine.events import (
    BatchProgress,
    EpochEnded,
    Event,
    FoldEnded,
    FoldStarted,
    Notice,
    RunEnded,
    RunStarted,
)
from dltui.engine.runs.folder import dumps

from .report import fmt, render_summary


def ended_summary(event: RunEnded) -> dict[str, Any]:
    """The run's summary, or at least its status when it ended without one (killed)."""
    return {"status": event.status, "message": event.message, **event.summary}


def epoch_line(e: EpochEnded) -> str:
    where = "final fit" if e.fold < 0 else f"r{e.repeat} f{e.fold}"
    train = "  ".join(f"{k} {fmt(v)}" for k, v in e.train.items())
    val = "  ".join(f"val_{k} {fmt(v)}" for k, v in e.val.items() if v == v)  # NaN: no val part
    return f"[{where}] epoch {e.epoch}/{e.epochs}  {train}  {val}".rstrip()


def start_lines(e: RunStarted) -> list[str]:
    cost = f"{e.trainings} training(s) x {e.epochs} epochs"
    mode = f", {e.parallel}" if e.parallel else ""
    return [f"run {e.run_dir}",
            f"{e.preset}: {e.data}; {e.params} parameters; {e.scheme}: {cost}{mode}; "
            f"device {e.device}" + (f", {e.threads} thread{'s' if e.threads > 1 else ''} "
                                    f"({e.threads_why})" if e.threads else "")]


class JsonPrinter:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            return
        self.out.write(dumps(event.to_dict()) + "\n")  # strict JSON: NaN as null
        self.out.flush()

    def close(self) -> None:
        pass


class PlainPrinter:
    """Progress as lines on stderr, results as text on stdout."""

    def __init__(self, err: TextIO | None = None, out: TextIO | None = None) -> None:
        self.err, self.out = err or sys.stderr, out or sys.stdout

    def __call__(self, event: Event) -> None:
        text: list[str] = []
        if isinstance(event, RunStarted):
            text = start_lines(event)
        elif isinstance(event, Notice):
            text = [f"{event.level}: {event.message}"]
        elif isinstance(event, EpochEnded):
            text = [epoch_line(event)]
        elif isinstance(event, FoldEnded) and event.fold >= 0:
            text = [f"[r{event.repeat} f{event.fold}] done: best epoch {event.best_epoch}"]
        elif isinstance(event, RunEnded):
            Console(file=self.out, width=160, no_color=True).print(
                render_summary(ended_summary(event), ascii_only=True))
            return
        for line in text:
            self.err.write(line + "\n")
        self.err.flush()

    def close(self) -> None:
        pass


class RichPrinter:
    """A live progress display on stderr, redrawn a few times a second by rich's own thread:
    events only update state, so the training loop never waits on drawing."""

    def __init__(self) -> None:
        self.err = Console(stderr=True)
        self.out = Console()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.err)
        self.trainings = self.progress.add_task("trainings", total=None)
        self.epochs = self.progress.add_task("epoch", total=None)
        self.batches = self.progress.add_task("batch", total=None)
        self.recent: list[EpochEnded] = []
        self.live = Live(self._view(), console=self.err, refresh_per_second=1,
                         get_renderable=self._view, transient=True)
        self.live.start()
        self.started = time.perf_counter()

    def _view(self) -> Any:
        table = Table(box=None, padding=(0, 1))
        table.add_column("where")
        table.add_column("epoch", justify="right")
        names = list(self.recent[-1].train) if self.recent else []
        for n in names:
            table.add_column(n, justify="right")
            table.add_column(f"val {n}", justify="right")
        for e in self.recent[-8:]:
            cells = []
            for n in names:
                cells += [fmt(e.train.get(n)), fmt(e.val.get(n))]
            table.add_row("final fit" if e.fold < 0 else f"r{e.repeat} f{e.fold}",
                          str(e.epoch), *cells)
        return Group(self.progress, table)

    def __call__(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, RunStarted):
            for line in start_lines(event):
                self.err.print(line, highlight=False, markup=False)
            p.update(self.trainings, total=event.trainings)
            p.update(self.epochs, total=event.epochs)
        elif isinstance(event, Notice):
            style = "yellow" if event.level == "warning" else "cyan"
            self.err.print(Text.assemble((f"{event.level}: ", style), event.message))
        elif isinstance(event, FoldStarted):
            p.update(self.epochs, completed=0)
        elif isinstance(event, BatchProgress):
            p.update(self.batches, completed=event.batch, total=event.batches)
        elif isinstance(event, EpochEnded):
            self.recent.append(event)
            p.update(self.epochs, completed=event.epoch, total=event.epochs)
            p.update(self.batches, completed=p.tasks[self.batches].total or 0)
        elif isinstance(event, FoldEnded) and event.fold >= 0:
            p.advance(self.trainings)
            self.err.print(f"[r{event.repeat} f{event.fold}] best epoch {event.best_epoch}: "
                           + "  ".join(f"val {k} {fmt(v)}" for k, v in event.best.items()),
                           highlight=False, markup=False)
        elif isinstance(event, RunEnded):
            self.close()
            self.out.print(render_summary(ended_summary(event)))

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
