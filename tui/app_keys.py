"""The keys that work on every screen. They live here, not in the app, so the help screen can list
them without importing the app that opens it."""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS = [
    Binding("question_mark", "help", "Help", show=False,
            tooltip="this help (in a text field, ? is typed: press Esc first or F1)"),
    Binding("ctrl+q", "quit", "Quit", priority=True,
            tooltip="quit (mid-run it asks first; the run stops cleanly)"),
]
