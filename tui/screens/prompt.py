"""A one-line question in a modal: a path to save to or a preset to load."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from ..widgets.field import Field
from ..widgets.keys_footer import KeysFooter


class PromptScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("tab", "complete", "Complete", priority=True,
                        tooltip="take the suggested completion"),
                Binding("enter", "submit", "OK", show=True)]  # shown: Enter is handled by the field
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical { width: 90%; max-width: 100; height: auto; border: round $accent;
                              background: $surface; padding: 1 2; }
    PromptScreen .choices { color: $text-muted; margin-top: 1; width: 1fr; height: auto; }
    """

    def __init__(self, question: str, value: str = "", choices: list[str] | None = None) -> None:
        super().__init__()
        self.question, self.value, self.choices = question, value, choices or []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            suggester = SuggestFromList(self.choices, case_sensitive=False) if self.choices else None
            yield Field(value=self.value, id="answer", suggester=suggester)
            if self.choices:
                # wrapped over as many lines as it takes (a Label kept one line, clipped)
                yield Static("   ".join(self.choices), id="choices", classes="choices",
                             markup=False)
        yield KeysFooter()

    def action_complete(self) -> None:
        answer = self.query_one("#answer", Input)
        suggestion = getattr(answer, "_suggestion", "")  # what the grey text proposes
        if suggestion:
            answer.value = suggestion
            answer.cursor_position = len(suggestion)

    def action_submit(self) -> None:
        self.dismiss(self.query_one("#answer", Input).value.strip() or None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question (overwrite a file, stop a run, quit with unsaved edits): only y says
    yes; n, Escape, q and Enter say no (the safe answer is the default)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"),
                Binding("n,escape,q,enter", "answer(False)", "No", key_display="n/Enter")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 90%; max-width: 80; height: auto; border: round $warning;
                               background: $surface; padding: 1 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Label("y: yes    n, Enter or Esc: no")
        yield KeysFooter()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
