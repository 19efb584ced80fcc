"""A workflow folder in the app: its steps filling in (what each tried, chose and why), each
step's sweep a key away. Follows a workflow another process is running, as `dltui watch` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from dltui.engine.events import printable
from dltui.engine.sweeps.workflow import STEPS, read_workflow, step_sweeps

from ..widgets.keys_footer import KeysFooter


def step_rows(state: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(step, status, choice, score) for each of the five steps, done or still to come."""
    by_name = {s["name"]: s for s in state.get("steps", [])}
    rows = []
    for name in STEPS:
        step = by_name.get(name)
        if step is None:
            rows.append((name, "to do" if state.get("status") == "running" else "-", "", ""))
            continue
        choice = step.get("choice") or {}
        score = choice.get("mean", choice.get("score"))
        test = choice.get("test") or {}
        shown = (f"{score:.4g}" if isinstance(score, int | float) else
                 ", ".join(f"test {k} {v:.4g}" for k, v in test.items() if k != "loss"))
        rows.append((name, step["status"], str(choice.get("label", choice.get("what", ""))), shown))
    return rows


class WorkflowScreen(Screen[None]):
    BINDINGS = [
        # The table takes Enter itself (a selected row opens its step); `o` shows in the footer.
        Binding("o", "open", "Open step", tooltip="the step's sweep: its variants and curves"),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]
    DEFAULT_CSS = """
    WorkflowScreen #wf-steps { height: auto; max-height: 9; }
    WorkflowScreen #wf-why-box { height: 1fr; }
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.dir = folder
        self.state: dict[str, Any] = {}
        self._shown: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("", id="wf-head")
            yield DataTable(id="wf-steps", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="wf-why-box"):
                yield Static("", id="wf-why")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = self.dir.name
        table = self.query_one(DataTable)
        table.add_columns("step", "status", "choice", "score")
        self.poll()
        self.set_interval(0.5, self.poll)
        table.focus()

    def poll(self) -> None:
        self.state = read_workflow(self.dir)
        rows = step_rows(self.state)
        if rows == self._shown:
            return
        self._shown = rows
        table = self.query_one(DataTable)
        at = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row)
        table.move_cursor(row=min(at, len(rows) - 1))
        budget = self.state.get("budget", "")
        self.query_one("#wf-head", Static).update(
            f"workflow {self.dir.name}: {self.state.get('status', '')}, budget {budget}, "
            f"{self.state.get('trainings', 0)} trainings so far")
        self.show_why()

    def on_data_table_row_highlighted(self) -> None:
        self.show_why()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()  # the table takes Enter itself: a selected row opens its step

    def _step(self) -> dict[str, Any] | None:
        table = self.query_one(DataTable)
        name = STEPS[min(table.cursor_row, len(STEPS) - 1)]
        return next((s for s in self.state.get("steps", []) if s["name"] == name), None)

    def show_why(self) -> None:
        step = self._step()
        why = printable(step.get("why", "")) if step else "not reached yet"
        if step and step_sweeps(step):
            why += "\n\nEnter opens its sweep: " + ", ".join(Path(d).name for d in step_sweeps(step))
        self.query_one("#wf-why", Static).update(why)

    def action_open(self) -> None:
        step = self._step()
        dirs = step_sweeps(step) if step else []
        if not dirs:
            self.notify("this step trained nothing to open" if step else "not reached yet",
                        timeout=3)
            return
        from .sweep import SweepScreen

        self.app.push_screen(SweepScreen(Path(dirs[-1])))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
