"""The whole of a long message in a popup (lazygit's): a run's result and every notice, or the
builder's status and the doctor's findings, wrapped to the width and scrollable by keyboard and
mouse."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.keys_footer import KeysFooter


class MessageScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,m", "dismiss", "Close"),
                Binding("j,down", "scroll(1)", "Down", show=False),
                Binding("k,up", "scroll(-1)", "Up", show=False)]
    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > VerticalScroll { width: 90%; max-width: 110; height: auto; max-height: 90%;
                                     border: round $accent; background: $surface;
                                     padding: 0 1; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="message-scroll"):
            yield Static(self.text, id="message", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        scroll = self.query_one(VerticalScroll)
        scroll.border_title = self.title_text
        scroll.focus()

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)
