"""Several runs' validation curves overlaid, one quantity at a time."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from dltui.engine.runs.folder import read_events

from ..run_state import validation_curve
from ..widgets.curves import draw_series
from ..widgets.keys_footer import KeysFooter
from ..widgets.palette import legend


class CompareScreen(ModalScreen[None]):
    """Validation curves of several runs overlaid, one quantity at a time: `m` cycles through
    the loss and the metrics every marked run has (a curve of accuracy never shares axes with
    one of MAE)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"),
                Binding("m", "next_metric", "Metric",
                        tooltip="next quantity: the loss or a metric every compared run has")]
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    CompareScreen > Vertical { width: 95%; height: 90%; border: round $accent; }
    CompareScreen PlotextPlot { height: 1fr; }
    CompareScreen #compare-legend { height: auto; max-height: 6; padding: 0 1; }
    """

    def __init__(self, runs: list[Path]) -> None:
        super().__init__()
        self.runs = runs
        self.shared = shared_metrics(runs)
        self.metric = "loss"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PlotextPlot(id="compare")
            yield Static("", id="compare-legend")  # each run's marker and colour, named
        yield KeysFooter()  # this dialog's keys, not the screen's below

    def on_mount(self) -> None:
        self.call_after_refresh(self.draw)  # sized first: ticks and the legend fit the plot

    def on_resize(self) -> None:
        self.call_after_refresh(self.draw)

    def action_next_metric(self) -> None:
        self.metric = self.shared[(self.shared.index(self.metric) + 1) % len(self.shared)]
        self.draw()

    def draw(self) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        series = [(i, path.name, validation_curve(path, self.metric)[1])
                  for i, path in enumerate(self.runs)]
        entries, _ = draw_series(widget, series)
        box = self.query_one("#compare-legend", Static)
        box.update(legend(entries, box.size.width - 2))
        others = [m for m in self.shared if m != self.metric]
        hint = f" (m: {', '.join(others)})" if others else ""
        plt.title(f"validation {self.metric} by epoch, {len(self.runs)} runs{hint}")
        widget.refresh()


def shared_metrics(runs: list[Path]) -> list[str]:
    """The loss, then the metrics that every run recorded: only those can be overlaid."""
    from dltui.engine.events import RunStarted

    common: set[str] | None = None
    for path in runs:
        started = next((e for e in read_events(path) if isinstance(e, RunStarted)), None)
        names = set(started.metrics) if started else set()
        common = names if common is None else common & names
    return ["loss", *sorted(common or set())]
