"""Keys typed at full speed land in order: a text field that runs its editing keys in turn with
the characters, and a focus move that happens before the next key is forwarded.

Textual inserts a printable key when the focused Input processes it, but runs an Input's key
binding (ctrl+u, ctrl+w, Backspace, Enter) only once the key has bubbled back up to the app;
the characters typed after it are inserted first (ctrl+u then `25` left `5`). Making those
bindings priority is wrong the other way: the app runs them before the characters already
queued for the field. So the field runs its own bindings as it receives each key.

A key that moves the focus is the reverse case: it must act in the app before the next key is
forwarded (a priority binding, and `focus_now`), or that key goes to the old widget.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.binding import BindingsMap, BindingType
from textual.widget import Widget
from textual.widgets import Input


class Field(Input):
    # Its bindings are run here, in turn with the characters; the app, which sees a key only
    # once it bubbles up, has none of them to run a second time.
    inherit_bindings = False
    BINDINGS: ClassVar[list[BindingType]] = []
    EDIT_KEYS = BindingsMap(Input.BINDINGS).key_to_bindings

    def __init__(self, *args: Any, clear_on_submit: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Emptied at Enter, in turn with the keys: what is typed next is the next entry (the
        # handler of Submitted runs later, after keys typed since have landed).
        self.clear_on_submit = clear_on_submit

    async def action_submit(self) -> None:
        value = self.value
        if self.clear_on_submit:
            self.value = ""
        self.post_message(self.Submitted(self, value, None))

    async def _on_key(self, event: events.Key) -> None:
        for binding in self.EDIT_KEYS.get(event.key, ()):
            event.stop()
            event.prevent_default()  # Input._on_key, next in the MRO, would insert it too
            await self.run_action(binding.action)
            return


def focus_now(widget: Widget) -> None:
    """Move the focus before the next key is handled. `Widget.focus()` defers the move to after
    the keys already queued, so `a` then `Dense` typed at once sent `Dense` to the model list
    (where `d` deletes). A widget its screen cannot focus yet (just shown by a class change)
    falls back to the deferred move."""
    widget.screen.set_focus(widget)
    if widget.screen.focused is not widget:
        widget.focus()

