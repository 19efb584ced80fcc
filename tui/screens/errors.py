"""Look at the errors of a finished run: the same report as `dltui report`, scrollable. A sweep
has no errors of its own: its variants are offered instead, each opening its own report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from dltui.engine.runs.sweep_folder import is_sweep, ranking, sweep_table

from ..widgets.keys_footer import KeysFooter


class ErrorsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close", tooltip="close")]
    DEFAULT_CSS = """
    ErrorsScreen { align: center middle; }
    ErrorsScreen > VerticalScroll { width: 95%; height: 95%; border: round $accent; }
    ErrorsScreen #variants { height: auto; max-height: 20; }
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.report: dict[str, Any] = {}
        self.sweep = is_sweep(run_dir)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="errors-scroll"):
            yield Static("", id="errors")
            if self.sweep:
                yield OptionList(id="variants")
        yield KeysFooter()  # this dialog's keys, not the screen's below

    def on_mount(self) -> None:
        if self.sweep:
            self._offer_variants()
            return
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

    def _offer_variants(self) -> None:
        metric = str((sweep_table(self.run_dir) or {}).get("metric", "?"))
        rows = [r for r in ranking(self.run_dir) if r.get("run_dir")]
        self.query_one(VerticalScroll).border_title = f"errors: {self.run_dir.name} (a sweep)"
        options = self.query_one("#variants", OptionList)
        for row in rows:
            score = row.get("mean")
            scored = f"val {metric} {score:.4g}" if isinstance(score, int | float) else \
                str(row.get("status", "?"))
            options.add_option(Option(f"v{int(row.get('index', 0)):02d}  {row.get('label', '?')}"
                                      f"  ({scored})", id=Path(str(row["run_dir"])).name))
        self.query_one("#errors", Static).update(
            f"{self.run_dir.name} is a sweep of {len(rows)} variant(s), each a run of its own: "
            "Enter on one shows its errors on validation data (best first)." if rows else
            f"{self.run_dir.name} is a sweep and none of its variants has a run folder yet.")
        if rows:
            options.highlighted = 0  # Enter right away opens the best variant's errors
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # variant folders live inside the sweep's: found by name, so a moved sweep works
        self.app.push_screen(ErrorsScreen(self.run_dir / str(event.option.id)))
