"""The footer of every screen: its keys, whole at any width (at 80 columns the Quit key was cut
to `^q Qui`)."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer


class KeysFooter(Footer):
    """Below 120 columns the keys sit closer and the palette key (ctrl+p, listed in the help)
    gives its room to the screen's own keys."""

    def on_mount(self) -> None:
        self._fit(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(self.app.size.width)

    def _fit(self, width: int) -> None:
        self.compact = width < 120
        self.show_command_palette = width >= 120
