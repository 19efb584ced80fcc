"""A sweep, live or finished: its ranked table filling in as variants end, and their averaged
validation curves overlaid (the book's original vs smaller vs bigger network figure), the best
variant marked. Follows `sweep.jsonl`, so it works the same for a sweep another process runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual_plotext import PlotextPlot

from dltui.engine.events import SweepEnded, SweepStarted, VariantEnded, VariantStarted
from dltui.engine.runs.folder import EventFollower
from dltui.engine.runs.sweep_folder import sweep_status
from dltui.engine.sweeps.plan import rank

from ..report import fmt
from ..run_state import validation_curve
from ..widgets.curves import integer_ticks
from ..widgets.keys_footer import KeysFooter


class SweepScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open variant", tooltip="open the variant's run"),
        Binding("space", "toggle", "Show/hide", tooltip="show or hide the variant's curve"),
        Binding("m", "metric", "Loss/metric", tooltip="overlay validation loss or the metric"),
        Binding("s", "stop", "Stop", tooltip="stop a sweep this app runs"),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]
    DEFAULT_CSS = """
    SweepScreen #sweep-plot { height: 1fr; min-height: 10; }
    SweepScreen #sweep-table { height: auto; max-height: 12; }
    """

    def __init__(self, sweep_dir: Path, source: Any = None) -> None:
        super().__init__()
        self.dir = sweep_dir
        self.source = source  # an InAppSweep this app trains, or None when only following
        self.follower = EventFollower(sweep_dir, "sweep.jsonl")
        self.started: SweepStarted | None = None
        self.rows: dict[int, dict[str, object]] = {}
        self.hidden: set[int] = set()
        self.quantity = "loss"  # the book's figure compares validation loss
        self.over = False
        self.dead = ""  # why the sweep ended without its end event (its process was killed)
        self._quiet = 0
        self._curves: dict[tuple[str, str], list[float]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("", id="sweep-head")
            yield PlotextPlot(id="sweep-plot")
            yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = self.dir.name
        self.poll()
        self.set_interval(1.0, self.poll)
        self.query_one(DataTable).focus()

    def poll(self) -> None:
        changed = False
        for event in self.follower.poll():
            changed = True
            if isinstance(event, SweepStarted):
                self.started = event
            elif isinstance(event, VariantStarted):
                self.rows[event.index] = {"index": event.index, "label": event.label,
                                          "status": "running", "mean": None, "std": None,
                                          "best_epoch": None, "run_dir": event.run_dir}
            elif isinstance(event, VariantEnded):
                self.rows[event.index] = {"index": event.index, "label": event.label,
                                          "status": event.status, "mean": event.mean,
                                          "std": event.std, "best_epoch": event.best_epoch,
                                          "run_dir": event.run_dir}
            elif isinstance(event, SweepEnded):
                self.over = True
        self._quiet = 0 if changed else self._quiet + 1
        if not self.over and self.source is None and self._quiet >= 3:
            self._quiet = 0
            status, why = sweep_status(self.dir)
            if status == "failed":  # killed: nothing will ever write its end
                self.over, self.dead, changed = True, why, True
                for row in self.rows.values():
                    if row["status"] == "running":
                        row["status"] = "failed"
        if changed:
            self.draw()
            self.refresh_bindings()

    def ranked(self) -> list[dict[str, object]]:
        metric = self.started.metric if self.started else "loss"
        return rank(list(self.rows.values()), metric)

    def draw(self) -> None:
        s = self.started
        done = sum(1 for r in self.rows.values() if r["status"] != "running")
        head = f"{s.preset}: {done}/{s.variants} variants, {s.mode}" if s else "waiting for the sweep"
        ending = f"  (failed: {self.dead})" if self.dead else "  (finished)" if self.over else ""
        self.query_one("#sweep-head", Static).update(head + ending)
        metric = s.metric if s else "loss"
        table = self.query_one(DataTable)
        table.clear(columns=True)
        # Few, compact columns: the table must read at 80 columns too.
        table.add_columns("#", "variant", "changed", f"val {metric} ± std", "best ep", "status")
        ranked = self.ranked()
        for i, row in enumerate(ranked, start=1):
            scored = row["mean"] is not None
            hidden = " (hidden)" if row["index"] in self.hidden else ""
            table.add_row(str(i) if scored else "-", f"v{row['index']:02d}{hidden}", str(row["label"]),
                          f"{fmt(row['mean'])} ± {fmt(row['std'])}" if scored else "",
                          str(row["best_epoch"] or ""),
                          str(row["status"]) + (" (best)" if i == 1 and scored else ""),
                          key=str(row["index"]))
        self.plot(ranked)

    def plot(self, ranked: list[dict[str, object]]) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        name = self.quantity if self.quantity == "loss" or not self.started else self.started.metric
        best = next((r["index"] for r in ranked if r["mean"] is not None), None)
        longest = 1
        for row in ranked:
            if row["index"] in self.hidden or not row["run_dir"]:
                continue
            curve = self.curve(row, name)
            if curve:
                label = f"v{row['index']:02d} {row['label']}" + (" (best)" if row["index"] == best else "")
                plt.plot(list(range(1, len(curve) + 1)), curve, label=label[:40], marker="braille")
                longest = max(longest, len(curve))
        plt.xticks(integer_ticks(longest))
        plt.title(f"validation {name}, mean over folds, by epoch")
        plt.xlabel("epoch")
        widget.refresh()

    def curve(self, row: dict[str, object], name: str) -> list[float]:
        """A variant's curve, read from its folder once it has ended (redraws reuse it)."""
        key = (str(row["run_dir"]), name)
        if key in self._curves:
            return self._curves[key]
        _, values = validation_curve(Path(key[0]), name)
        if row["status"] != "running":
            self._curves[key] = values
        return values

    def _selected(self) -> dict[str, object] | None:
        table = self.query_one(DataTable)
        ranked = self.ranked()
        if table.cursor_row is None or table.cursor_row >= len(ranked):
            return None
        return ranked[table.cursor_row]

    def action_toggle(self) -> None:
        row = self._selected()
        if row is not None:
            self.hidden ^= {int(str(row["index"]))}
            cursor = self.query_one(DataTable).cursor_row
            self.draw()
            self.query_one(DataTable).move_cursor(row=cursor)

    def action_metric(self) -> None:
        self.quantity = "metric" if self.quantity == "loss" else "loss"
        self.draw()

    def action_open(self) -> None:
        from ..run_source import FolderRun
        from .train import TrainScreen

        row = self._selected()
        if row is not None and row["run_dir"]:
            path = Path(str(row["run_dir"]))
            self.app.push_screen(TrainScreen(FolderRun(path), path.name))

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # only a sweep trained here can be stopped here: else not offered
            return self.source is not None and self.source.can_stop
        return True

    def action_stop(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.notify("stopping the sweep after the current batch")

    def action_back(self) -> None:
        self.app.pop_screen()
