"""The live view: curves, the K-fold table, progress and the engine's warnings, for a run trained
here, followed from another process, or replayed from its folder."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from ..report import result_lines
from ..run_source import RunSource
from ..run_state import RunState
from ..widgets.curves import CurvesPlot
from ..widgets.keys_footer import KeysFooter
from ..widgets.kfold_table import KFoldTable
from ..widgets.palette import legend

POLL_SECONDS = 1.0  # events are drained and the progress line updated this often
PLOT_SECONDS = 1.0  # curves (the costly part) are redrawn at most this often, never per batch
PLOT_SHARE = 0.01  # ...and less often when drawing them would take more than this share of time,
PLOT_MAX_SECONDS = 1.0  # but at least once a second (and at once when a fold starts or ends)


class TrainScreen(Screen[None]):
    BINDINGS = [
        Binding("s", "stop", "Stop", tooltip="stop after the current batch (everything computed "
                "is kept; `dltui resume` continues it)"),
        Binding("f", "next_fold", "Fold", tooltip="show the next fold's curves"),
        Binding("F", "follow", "Follow", show=False, tooltip="follow the training fold again"),
        Binding("l", "log_scale", "Log y", tooltip="logarithmic loss axis (a first epoch far "
                "above the rest is left off the linear scale anyway)"),
        Binding("escape", "back", "Back", tooltip="back; a run trained here keeps running "
                "(ctrl+r, Enter on it, comes back)"),
        Binding("r", "runs", "Runs"),
        Binding("e", "errors", "Errors", tooltip="once the run has ended: its errors on "
                "validation data (confusion matrix, worst samples)"),
        Binding("m", "message", "Message", tooltip="the result and every notice, whole, in "
                "a popup (Tab focuses the panel beside the table: arrows scroll it)"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, source: RunSource, title: str = "") -> None:
        super().__init__()
        self.source = source
        self.state = RunState()
        self.heading = title
        self._drawn_version = -1
        self._plotted_epochs = -1
        self._plotted_at = 0.0
        self._plotted_moment: object = None
        self._plot_cost = 0.0
        self._table_rows = -1
        self._notices_shown = 0
        self.shown: tuple[int, int] | None = None  # a fold picked with `f`; None follows training

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="progress")
        yield Static("", id="legend")  # what the plots draw, in their colours
        with Horizontal(id="plots"):
            yield CurvesPlot("loss", id="loss-plot")
            yield CurvesPlot("metric", id="metric-plot")
        with Horizontal(id="bottom"):
            yield KFoldTable(id="kfold", zebra_stripes=True, cursor_type="none")
            # Scrolls (keys when focused, the wheel) where a small terminal cannot show it all;
            # `m` shows the whole of it in a popup.
            with VerticalScroll(id="side", can_focus=True):
                yield Static("", id="result", markup=False)
                yield Static("", id="notices", markup=False)
        yield KeysFooter()

    def on_resize(self) -> None:
        self._table_rows = -1  # redrawn for the new width at the next poll
        self._drawn_version = -1
        self._plotted_moment = None  # titles and ticks are fitted to the plots' new size
        self.call_after_refresh(self._show_legend)

    def _show_legend(self) -> None:
        """Both plots draw the same series and marks: one legend row names them, in their
        colours, instead of labels written over the data."""
        row = self.query_one("#legend", Static)
        width = row.size.width - 2 if row.size.width > 2 else self.app.size.width - 2
        row.update(legend(self.query_one("#loss-plot", CurvesPlot).entries, width))

    def on_mount(self) -> None:
        self.sub_title = self.heading
        self.query_one(KFoldTable).show([])
        self._pump()
        self.set_interval(POLL_SECONDS, self._pump)

    def _pump(self) -> None:
        for event in self.source.poll():
            self.state.apply(event)
        if self.state.version == self._drawn_version:
            return
        self._drawn_version = self.state.version
        self._draw()

    def _draw(self, force: bool = False) -> None:
        state = self.state
        self.query_one("#progress", Static).update(state.progress_text())
        epochs = sum(len(f.train) for f in state.folds.values())
        now = time.monotonic()
        # The UI thread shares the GIL with training: drawing curves slows training down, so
        # they are drawn only as often as keeps that cost to a few percent.
        wait = min(PLOT_MAX_SECONDS, max(PLOT_SECONDS, self._plot_cost / PLOT_SHARE))
        due = now - self._plotted_at >= wait
        # A fold that started or ended (the final fit too) is drawn at once, so no plot shows
        # the previous fold or misnames what it draws.
        moment = (state.current, len(state.finished_folds()), state.ended is not None)
        if force or moment != self._plotted_moment or (epochs != self._plotted_epochs and due):
            self._plotted_epochs, self._plotted_at, self._plotted_moment = epochs, now, moment
            curves = state.folds.get(self.shown) if self.shown else None
            self.query_one("#loss-plot", CurvesPlot).show(state, curves)
            self.query_one("#metric-plot", CurvesPlot).show(state, curves)
            self._show_legend()
            self.call_after_refresh(self._measure_plot, now)
        rows = state.table_rows()
        if len(rows) != self._table_rows:
            self._table_rows = len(rows)
            # the full table (metrics at the last epoch too) needs about 150 columns
            self.query_one(KFoldTable).show(rows, narrow=self.app.size.width < 150)
        if len(state.notices) != self._notices_shown:
            self._notices_shown = len(state.notices)
            self.query_one("#notices", Static).update(self.notice_text())
        if state.ended:
            self.refresh_bindings()  # the Stop key goes away once nothing runs
            tail = f": {state.ended.message}" if state.ended.message else ""
            # The status first: on a small terminal the panel may not show every line.
            lines = [f"status {state.ended.status}{tail}"]
            lines += result_lines(state.ended.summary) if state.ended.summary else []
            self.query_one("#result", Static).update("\n".join(lines))

    def notice_text(self) -> str:
        return "\n".join(f"{n.level}: {n.message}" for n in self.state.notices)

    def action_message(self) -> None:
        """The result and every notice, whole, in a popup."""
        from .message import MessageScreen

        result = str(self.query_one("#result", Static).render())
        text = "\n\n".join(part for part in (result, self.notice_text()) if part.strip())
        self.app.push_screen(MessageScreen(f"{self.heading}: result and notices",
                                           text or "nothing yet"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # a run followed from another process (or finished) is not offered
            return self.source.can_stop
        if action == "errors":  # validation predictions exist once a run has ended
            return True if self.state.ended is not None and self.source.run_dir else None
        return True

    def action_errors(self) -> None:
        from .errors import ErrorsScreen

        if self.source.run_dir is not None:
            self.app.push_screen(ErrorsScreen(self.source.run_dir))

    def action_stop(self) -> None:
        if self.source.can_stop:
            self.source.stop()
            # Said in the header until the run ends; then the header says where it stopped.
            self.state.stopping = True
            self.state.version += 1
        else:
            self.notify("this run is not trained here; stop it where it runs", severity="warning")

    def _measure_plot(self, started: float) -> None:
        """Cost of the last curve redraw, rendering included (it happens on refresh)."""
        self._plot_cost = time.monotonic() - started

    def action_next_fold(self) -> None:
        """Show the next fold's curves (the table and averaged curve cover all folds)."""
        keys = self.state.fold_keys()
        if not keys:
            return
        now = self.shown or self.state.current or keys[0]
        self.shown = keys[(keys.index(now) + 1) % len(keys)] if now in keys else keys[0]
        self._draw(force=True)

    def action_log_scale(self) -> None:
        for plot in self.query(CurvesPlot):
            if plot.quantity == "loss":
                plot.log_scale = not plot.log_scale
        self._draw(force=True)

    def action_follow(self) -> None:
        self.shown = None
        self._draw(force=True)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_runs(self) -> None:
        self.app.action_runs()  # type: ignore[attr-defined]
