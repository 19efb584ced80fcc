"""A sweep, live or finished: its ranked table filling in as variants end, and their averaged
validation curves overlaid (the book's original vs smaller vs bigger network figure), the best
variant marked. Follows `sweep.jsonl`, so it works the same for a sweep another process runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on
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
from ..run_state import RunState, validation_curve
from ..widgets.curves import draw_series
from ..widgets.field import Field, focus_now
from ..widgets.keys_footer import KeysFooter
from ..widgets.palette import legend


class SweepScreen(Screen[None]):
    AUTO_FOCUS = "#sweep-table"
    # The runs screen's keys, for the variants (each is a run of its own)
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="open the variant's run"),
        Binding("space", "toggle", "Hide", tooltip="show or hide the variant's curve"),
        Binding("m", "metric", "Metric", tooltip="overlay validation loss or the metric"),
        Binding("c", "compare", "Compare", tooltip="the shown variants' curves in the compare "
                "view (every metric they share)"),
        Binding("e", "errors", "Errors", tooltip="the variant's errors on validation data"),
        Binding("o", "sort", "Sort", show=False, tooltip="sort: by rank or by variant number"),
        Binding("x", "export_curves", "CSV", show=False,
                tooltip="write curves.csv in the run folder of every shown variant"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="show only the variants whose label or status has the text"),
        Binding("j", "move(1)", "Down", show=False), Binding("k", "move(-1)", "Up", show=False),
        Binding("s", "stop", "Stop", tooltip="stop a sweep this app runs"),
        Binding("escape", "back", "Back", tooltip="back (a filter is cleared first)"),
        Binding("question_mark", "app.help", "Help"),
    ]
    DEFAULT_CSS = """
    SweepScreen #sweep-plot { height: 1fr; min-height: 8; }
    SweepScreen #sweep-legend { height: auto; max-height: 4; padding: 0 1; }
    SweepScreen #sweep-table { height: auto; max-height: 12; }
    SweepScreen #sweep-filter { display: none; }
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
        self.ended_seconds: float | None = None
        self.filter = ""
        self.by_rank = True  # `o`: ranked, or in variant order
        # the running variants' own progress (their metrics.jsonl), for the time left
        self._live: dict[int, tuple[EventFollower, RunState]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("", id="sweep-head")
            yield PlotextPlot(id="sweep-plot")
            yield Static("", id="sweep-legend")  # each variant's marker and colour, named
            yield Field(placeholder="filter: part of a label or status (Esc clears)",
                        id="sweep-filter", compact=True)
            yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = self.dir.name
        self.poll()
        self.set_interval(1.0, self.poll)
        self.call_after_refresh(self.draw)  # sized: ticks and the legend fit

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
                                          "run_dir": event.run_dir, "seconds": event.seconds}
            elif isinstance(event, SweepEnded):
                self.over, self.ended_seconds = True, event.seconds
        self._quiet = 0 if changed else self._quiet + 1
        if not self.over and self.source is None and self._quiet >= 3:
            self._quiet = 0
            status, why = sweep_status(self.dir)
            if status == "failed":  # killed: nothing will ever write its end
                self.over, self.dead, changed = True, why, True
                for row in self.rows.values():
                    if row["status"] == "running":
                        row["status"] = "failed"
        self._follow_running()
        if changed:
            self.draw()
            self.refresh_bindings()
        else:
            self._show_head()  # the clock moves every second

    def _follow_running(self) -> None:
        for index, row in self.rows.items():
            if row["status"] != "running":
                self._live.pop(index, None)
            elif row["run_dir"]:
                follower, state = self._live.setdefault(
                    index, (EventFollower(Path(str(row["run_dir"]))), RunState()))
                for event in follower.poll():
                    state.apply(event)

    def elapsed(self) -> float | None:
        if self.ended_seconds is not None:
            return self.ended_seconds
        started_at = self.started.started_at if self.started else 0.0
        return max(0.0, time.time() - started_at) if started_at else None

    def remaining(self) -> float | None:
        """The running variants' own estimates, then the queued ones at the pace of those
        that ended (or of the running ones' expected length), as many at once as run now."""
        if self.over or self.started is None:
            return None
        running = [state for _f, state in self._live.values()]
        lefts = [state.remaining() for state in running]
        if not running or any(left is None for left in lefts):
            return None
        ended = [float(r["seconds"]) for r in self.rows.values() if r.get("seconds")]
        each = (sum(ended) / len(ended) if ended
                else max(state.elapsed() + (left or 0.0) for state, left in zip(running, lefts,
                                                                                  strict=True)))
        queued = max(0, self.started.variants - len(self.rows))
        return max(left or 0.0 for left in lefts) + queued * each / len(running)

    def _show_head(self) -> None:
        s = self.started
        done = sum(1 for r in self.rows.values() if r["status"] != "running")
        head = f"{s.preset}: {done}/{s.variants} variants, {s.mode}" if s else "waiting for the sweep"
        took, left = self.elapsed(), self.remaining()
        if took is not None:
            head += f"  {took:.0f}s" + (f" ~{left:.0f}s left" if left is not None else "")
        ending = f"  (failed: {self.dead})" if self.dead else "  (finished)" if self.over else ""
        self.query_one("#sweep-head", Static).update(head + ending)

    def ranked(self) -> list[dict[str, object]]:
        """The variants in the table's order (ranked or by number), the filter applied; each
        keeps its place in the ranking as `rank`."""
        metric = self.started.metric if self.started else "loss"
        rows = rank(list(self.rows.values()), metric)
        for place, row in enumerate(rows, start=1):
            row["rank"] = place if row["mean"] is not None else None
        if not self.by_rank:
            rows.sort(key=lambda r: int(str(r["index"])))
        text = self.filter.lower()
        return [r for r in rows if not text or text in f"v{r['index']:02d} {r['label']} "
                f"{r['status']}".lower()]

    def draw(self) -> None:
        s = self.started
        self._show_head()
        metric = s.metric if s else "loss"
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        # Few, compact columns: the table must read at 80 columns too.
        table.add_columns("#", "variant", "changed", f"val {metric} ± std", "best ep", "status")
        ranked = self.ranked()
        for row in ranked:
            scored = row["mean"] is not None
            hidden = " (hidden)" if row["index"] in self.hidden else ""
            table.add_row(str(row["rank"] or "-"), f"v{row['index']:02d}{hidden}",
                          str(row["label"]),
                          f"{fmt(row['mean'])} ± {fmt(row['std'])}" if scored else "",
                          str(row["best_epoch"] or ""),
                          str(row["status"]) + (" (best)" if row["rank"] == 1 else ""),
                          key=str(row["index"]))
        if cursor and ranked:
            table.move_cursor(row=min(cursor, len(ranked) - 1))
        self.plot(ranked)

    def plot(self, ranked: list[dict[str, object]]) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        name = self.quantity if self.quantity == "loss" or not self.started else self.started.metric
        series = []
        for row in sorted(ranked, key=lambda r: int(str(r["index"]))):
            if row["index"] in self.hidden or not row["run_dir"]:
                continue
            label = f"v{row['index']:02d} {row['label']}" + (" (best)" if row["rank"] == 1 else "")
            # the variant's number picks its colour and marker: the same on every redraw
            series.append((int(str(row["index"])), label, self.curve(row, name)))
        entries, _ = draw_series(widget, series)
        box = self.query_one("#sweep-legend", Static)
        box.update(legend(entries, box.size.width - 2))
        plt.title(f"validation {name}, mean over folds, by epoch")
        widget.refresh()

    def on_resize(self) -> None:
        self.call_after_refresh(self.draw)

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
            self.draw()

    def _shown_runs(self) -> list[Path]:
        return [Path(str(r["run_dir"])) for r in self.ranked()
                if r["index"] not in self.hidden and r["run_dir"] and r["status"] != "running"]

    def action_compare(self) -> None:
        from .compare import CompareScreen

        runs = self._shown_runs()
        if len(runs) < 2:
            self.notify("two or more finished variants must be shown (Space shows/hides one)",
                        severity="warning")
            return
        self.app.push_screen(CompareScreen(runs))

    def action_errors(self) -> None:
        from .errors import ErrorsScreen

        row = self._selected()
        if row is not None and row["run_dir"]:
            self.app.push_screen(ErrorsScreen(Path(str(row["run_dir"]))))

    def action_export_curves(self) -> None:
        from dltui.engine.runs.folder import write_curves_csv

        runs = self._shown_runs()
        if not runs:
            self.notify("no finished variant is shown", severity="warning")
            return
        written = [write_curves_csv(path) for path in runs]
        self.notify(f"wrote {written[0]}" if len(written) == 1 else
                    f"wrote curves.csv in {len(written)} variants' run folders", timeout=4)

    def action_sort(self) -> None:
        self.by_rank = not self.by_rank
        self.notify("sorted by rank" if self.by_rank else "sorted by variant number", timeout=2)
        self.draw()

    def action_move(self, step: int) -> None:
        table = self.query_one("#sweep-table", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_filter(self) -> None:
        box = self.query_one("#sweep-filter", Field)
        box.display = True
        focus_now(box)

    @on(Field.Changed, "#sweep-filter")
    def _filter_typed(self, event: Field.Changed) -> None:
        self.filter = event.value.strip()
        self.draw()

    @on(Field.Submitted, "#sweep-filter")
    def _filter_done(self, _event: Field.Submitted) -> None:
        focus_now(self.query_one("#sweep-table", DataTable))

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
        if action == "filter":  # in the filter field `/` is typed
            return not isinstance(self.focused, Field)
        if action == "stop":  # only a sweep trained here can be stopped here: else not offered
            return self.source is not None and self.source.can_stop
        return True

    def action_stop(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.notify("stopping the sweep after the current batch")

    def action_back(self) -> None:
        box = self.query_one("#sweep-filter", Field)
        if self.filter or box.has_focus:  # Esc clears the filter first
            box.value = ""
            box.display = False
            self.filter = ""
            self.draw()
            focus_now(self.query_one("#sweep-table", DataTable))
            return
        self.app.pop_screen()
