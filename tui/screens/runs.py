"""Past runs: the list, opening one, and overlaying two runs' validation curves."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from dltui.engine.runs.folder import RunInfo
from dltui.engine.runs.listing import list_runs

from ..run_source import FolderRun
from ..widgets.field import Field, focus_now
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
    AUTO_FOCUS = "#runs"  # the list, not the hidden filter field
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
                tooltip="write curves.csv in the folder of each marked run (or the one under "
                "the cursor)"),
        Binding("d", "delete", "Delete", show=False, tooltip="delete the run's folder (asks)"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="show only the runs whose name, preset, scheme or status has the text"),
        Binding("j", "move(1)", "Down", show=False), Binding("k", "move(-1)", "Up", show=False),
        Binding("escape", "back", "Back", tooltip="back (a filter is cleared first)"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.runs: list[RunInfo] = []
        self.marked: list[Path] = []
        self.sort = "newest"
        self.filter = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="runs-hint")
        yield Field(placeholder="filter: part of a name, preset, scheme or status (Esc clears)",
                    id="runs-filter", compact=True)
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
        every = list_runs(self.runs_dir)
        self.runs = sorted([r for r in every if self._matches(r)], key=key, reverse=reverse)
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
        if self.filter:
            hint = f"{len(self.runs)} of {len(every)} run(s) match '{self.filter}'. Esc clears."
        self.query_one("#runs-hint", Static).update(hint)
        if not (isinstance(self.focused, Field) and self.focused.display):
            focus_now(table)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":  # in the filter field `/` is typed
            return not isinstance(self.focused, Field)
        return True

    def _matches(self, run: RunInfo) -> bool:
        text = self.filter.lower()
        return not text or any(text in str(v).lower() for v in
                               (run.path.name, run.preset, run.scheme, run.status))

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Field)
        box.display = True
        focus_now(box)

    @on(Field.Changed, "#runs-filter")
    def _filter_typed(self, event: Field.Changed) -> None:
        self.filter = event.value.strip()
        self.action_reload()

    @on(Field.Submitted, "#runs-filter")
    def _filter_done(self, _event: Field.Submitted) -> None:
        focus_now(self.query_one("#runs", DataTable))

    def action_move(self, step: int) -> None:
        table = self.query_one("#runs", DataTable)
        if self.runs:
            table.move_cursor(row=max(0, min(len(self.runs) - 1, table.cursor_row + step)))

    def action_delete(self) -> None:
        from .prompt import ConfirmScreen

        run = self._selected()
        if run is None:
            return
        if run.status == "running":
            self.notify(f"{run.path.name} is running: stop it first", severity="warning")
            return
        what = "sweep folder (its variants' runs stay)" if run.scheme == "sweep" else "run folder"
        self.app.push_screen(ConfirmScreen(f"Delete the {what} {run.path}?"),
                             lambda yes: self._delete(run) if yes else None)

    def _delete(self, run: RunInfo) -> None:
        import shutil

        shutil.rmtree(run.path, ignore_errors=True)
        self.marked = [p for p in self.marked if p != run.path]
        row = self.query_one("#runs", DataTable).cursor_row
        self.action_reload()
        self.query_one("#runs", DataTable).move_cursor(row=max(0, row - 1))
        self.notify(f"deleted {run.path.name}", timeout=4)

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

        chosen = [r for r in self.runs if r.path in self.marked] or \
            [r for r in [self._selected()] if r is not None]
        runs = [r for r in chosen if r.scheme != "sweep"]
        if not runs:
            self.notify("select or mark runs (a sweep's variants are runs of their own)",
                        severity="warning")
            return
        written = [write_curves_csv(r.path) for r in runs]
        self.notify(f"wrote {written[0]}" if len(written) == 1 else
                    f"wrote curves.csv in {len(written)} run folders", timeout=4)

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
        from .compare import CompareScreen

        self.app.push_screen(CompareScreen(self.marked))

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Field)
        if self.filter or box.has_focus:  # Esc clears the filter first
            box.value = ""
            box.display = False
            self.filter = ""
            self.action_reload()
            focus_now(self.query_one("#runs", DataTable))
            return
        self.app.pop_screen()
