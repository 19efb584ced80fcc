"""The help screen: every key of every screen, generated from the screens' own bindings (so it
cannot drift from what the keys do), with the few things keys cannot say."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from ..widgets.keys_footer import KeysFooter

KEY_NAMES = {"question_mark": "?", "escape": "Esc", "enter": "Enter", "space": "Space",
             "delete": "Delete", "tab": "Tab"}

NOTES = """
## Also
- In the builder, a setting typed as a list (`0.001, 0.01`) or a layer as `Dense 4,16,64 relu`
  varies it: `ctrl+t` then runs a sweep of every combination.
- `ctrl+p` opens the command palette: train, stop, save, load (every shipped preset), runs,
  compare, log scale, next fold.
- Every setting is validated as you type; the status line at the bottom says what to fix first.
"""


def key_label(keys: str) -> str:
    return " / ".join(f"`{KEY_NAMES.get(k, k)}`" for k in keys.split(","))


def binding_rows(bindings: list[Binding | tuple[str, ...]]) -> list[str]:
    rows = []
    for b in bindings:
        if not isinstance(b, Binding):
            b = Binding(*b)
        rows.append(f"| {key_label(b.key)} | {b.tooltip or b.description} |")
    return rows


def help_text() -> str:
    from ..app_keys import APP_BINDINGS
    from .build import BuildScreen
    from .compare import CompareScreen
    from .errors import ErrorsScreen
    from .prompt import PromptScreen
    from .runs import RunsScreen
    from .sweep import SweepScreen
    from .train import TrainScreen

    parts = ["# dltui keys"]
    for title, screen in (("Build", BuildScreen), ("Train (live view)", TrainScreen),
                          ("Sweep", SweepScreen), ("Runs", RunsScreen),
                          ("Compare", CompareScreen), ("Errors", ErrorsScreen),
                          ("Load and save dialogs", PromptScreen)):
        parts += [f"## {title}", "| key | action |", "|---|---|",
                  *binding_rows(list(screen.BINDINGS))]
    parts += ["## Everywhere", "| key | action |", "|---|---|", *binding_rows(list(APP_BINDINGS))]
    return "\n".join(parts) + "\n" + NOTES


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 95%; height: 95%; border: round $accent;
                                  background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(help_text())
        yield KeysFooter()  # this dialog's keys, not the screen's below
