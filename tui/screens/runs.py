"""Past runs: the list, opening one, and overlaying two runs' validation curves."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Static
from textual_plotext import PlotextPlot

from dltui.engine.runs.folder import RunInfo, read_events
from dltui.engine.runs.listing import list_runs

from ..run_source import FolderRun
from ..run_state import validation_curve
from ..widgets.curves import integer_ticks
from ..widgets.keys_footer import KeysFooter


def _date(run: RunInfo) -> str:
    stamp = run.path.name[:15]  # YYYYmmdd-HHMMSS
    if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit():
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return ""


SORTS = {  # name -> (key, reverse); `o` cycles through them
    "newest": (lambda r: r.path.name, True),
    "preset": (lambda r: (r.preset, r.path.name), False),
    "status": (lambda r: (r.status, r.path.name), False),
    "duration": (lambda r: r.seconds, True),
}


class RunsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="open the run's curves and table (a run this "
                "app trains is live: s stops it)"),
        Binding("space", "mark", "Mark", tooltip="mark runs to compare"),
        Binding("c", "compare", "Compare", tooltip="overlay the marked runs' validation curves "
                "(two or more; same metric only)"),
        Binding("e", "errors", "Errors", tooltip="the run's errors on validation data"),
        Binding("g", "reload", "Reload", show=False, tooltip="reload the list"),
        Binding("o", "sort", "Sort", tooltip="sort: newest, preset, status, duration"),
        Binding("x", "export_curves", "CSV", show=False,
                tooltip="write the run's curves as curves.csv in its folder"),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.runs: list[RunInfo] = []
        self.marked: list[Path] = []
        self.sort = "newest"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-hint")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = f"runs in {self.runs_dir}"
        self.action_reload()

    def on_resize(self) -> None:
        if (self.app.size.width < 110) != getattr(self, "_narrow", None):
            self.action_reload()

    def action_reload(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear(columns=True)
        narrow = self.app.size.width < 110
        self._narrow = narrow
        if narrow:  # 80 columns: two lines per run, every column kept
            table.add_columns("*", "start/time", "preset/scheme", "ep/params", "status/headline")
        else:
            table.add_columns("*", "started", "preset", "scheme", "epochs", "params", "time",
                              "status", "headline")
        key, reverse = SORTS[self.sort]
        self.runs = sorted(list_runs(self.runs_dir), key=key, reverse=reverse)
        for run in self.runs:
            mark = "*" if run.path in self.marked else ""
            params = f"{run.params:,}" if run.params else ""
            took = f"{run.seconds:.1f}s" if run.seconds else ""
            if narrow:
                table.add_row(mark, f"{_date(run)[5:]}\n{took}", f"{run.preset}\n{run.scheme}",
                              f"{run.epochs or ''} ep\n{params} p", f"{run.status}\n{run.best}",
                              key=str(run.path), height=2)
                continue
            table.add_row(mark, _date(run), run.preset, run.scheme, str(run.epochs or ""),
                          params, took, run.status, run.best, key=str(run.path))
        self.sub_title = f"runs in {self.runs_dir}, by {self.sort}"
        hint = (f"{len(self.runs)} run(s). Enter opens one; Space marks runs, c compares them."
                if self.runs else f"no runs yet in {self.runs_dir}: train one first")
        self.query_one("#runs-hint", Static).update(hint)
        table.focus()

    def _selected(self) -> RunInfo | None:
        table = self.query_one("#runs", DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def action_open(self) -> None:
        from .train import TrainScreen

        run = self._selected()
        if run and run.scheme == "sweep":
            from .sweep import SweepScreen

            self.app.push_screen(SweepScreen(run.path))
        elif run:
            # A run this app trains opens on its live source, so `s` still stops it.
            live = next((t for t in self.app.training  # type: ignore[attr-defined]
                         if getattr(t, "run_dir", None) == run.path and t.can_stop), None)
            self.app.push_screen(TrainScreen(live.reader() if live else FolderRun(run.path),
                                             run.path.name))

    def action_sort(self) -> None:
        names = list(SORTS)
        self.sort = names[(names.index(self.sort) + 1) % len(names)]
        self.action_reload()

    def action_export_curves(self) -> None:
        from dltui.engine.runs.folder import write_curves_csv

        run = self._selected()
        if run is None or run.scheme == "sweep":
            self.notify("select a run (a sweep's variants are runs of their own)", severity="warning")
            return
        self.notify(f"wrote {write_curves_csv(run.path)}")

    def action_errors(self) -> None:
        from .errors import ErrorsScreen

        run = self._selected()
        if run:
            self.app.push_screen(ErrorsScreen(run.path))

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_mark(self) -> None:
        run = self._selected()
        if run is None:
            return
        if run.path in self.marked:
            self.marked.remove(run.path)
        else:
            self.marked = [*self.marked, run.path]
        row = self.query_one("#runs", DataTable).cursor_row
        self.action_reload()
        self.query_one("#runs", DataTable).move_cursor(row=row)

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("mark two or more runs with Space first", severity="warning")
            return
        self.app.push_screen(CompareScreen(self.marked))

    def action_back(self) -> None:
        self.app.pop_screen()


class CompareScreen(ModalScreen[None]):
    """Validation curves of several runs overlaid, one quantity at a time: `m` cycles through
    the loss and the metrics every marked run has (a curve of accuracy never shares axes with
    one of MAE)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"),
                Binding("m", "next_metric", "Metric",
                        tooltip="next quantity: the loss or a metric every compared run has")]
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    CompareScreen > PlotextPlot { width: 95%; height: 90%; border: round $accent; }
    """

    def __init__(self, runs: list[Path]) -> None:
        super().__init__()
        self.runs = runs
        self.shared = shared_metrics(runs)
        self.metric = "loss"

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="compare")
        yield KeysFooter()  # this dialog's keys, not the screen's below

    def on_mount(self) -> None:
        self.draw()

    def action_next_metric(self) -> None:
        self.metric = self.shared[(self.shared.index(self.metric) + 1) % len(self.shared)]
        self.draw()

    def draw(self) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        longest = 1
        for path in self.runs:
            _, curve = validation_curve(path, self.metric)
            if curve:
                plt.plot(list(range(1, len(curve) + 1)), curve, label=path.name[-38:],
                         marker="braille")
                longest = max(longest, len(curve))
        plt.xticks(integer_ticks(longest))
        others = [m for m in self.shared if m != self.metric]
        hint = f" (m: {', '.join(others)})" if others else ""
        plt.title(f"validation {self.metric} by epoch, {len(self.runs)} runs{hint}")
        plt.xlabel("epoch")
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
