"""Answers from worker threads, delivered on the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.widget import Widget


def from_thread(widget: Widget, callback: Callable[..., Any], *args: Any) -> None:
    """Run `callback` on the UI thread for a worker thread, unless the widget has gone (its
    screen closed, the app quit) while the worker ran: a late answer is dropped, not a crash."""
    def guarded() -> None:
        if widget.is_attached:
            try:
                callback(*args)
            except NoMatches:  # attached, but its children already taken down (quitting)
                pass

    try:
        widget.app.call_from_thread(guarded)
    except RuntimeError:  # the app is no longer running
        pass
