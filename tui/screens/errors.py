"""Look at the errors of a finished run: the same report as `dltui report`, scrollable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.keys_footer import KeysFooter


class ErrorsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close", tooltip="close")]
    DEFAULT_CSS = """
    ErrorsScreen { align: center middle; }
    ErrorsScreen > VerticalScroll { width: 95%; height: 95%; border: round $accent; }
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.report: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="errors-scroll"):
            yield Static("", id="errors")
        yield KeysFooter()  # this dialog's keys, not the screen's below

    def on_mount(self) -> None:
        from dltui.engine.errors import InputError
        from dltui.engine.runs.error_report import error_report

        from ..error_tables import render_report

        self.query_one(VerticalScroll).border_title = f"errors on validation data: {self.run_dir.name}"
        try:
            self.report = error_report(self.run_dir)
            shown = render_report(self.report, width=max(40, self.app.size.width - 12))
        except InputError as err:
            shown = str(err)
        self.query_one("#errors", Static).update(shown)
        self.query_one(VerticalScroll).focus()
