"""Editing the model in the builder: layers added, inserted, edited, moved and deleted from the
stack with live shapes, the layer being typed previewed, every edit undoable with `u`, and the
sweep values typed into a layer (`Dense 4,16,64 relu`) kept on their layer as layers move."""

from __future__ import annotations

import copy
import re
from typing import Any

from textual.widgets import Input, Static

from dltui.engine.model.layers import LayerSpec

from ..layer_syntax import LayerSyntaxError, format_layer, parse_varied_layer
from ..widgets.field import focus_now
from ..widgets.layer_stack import LayerStack


class ModelEditing:
    """The builder's model commands (a mixin of BuildScreen: it owns raw, model_layers, data,
    editing, insert_at, findings and history)."""

    raw: dict[str, Any]
    model_layers: list[LayerSpec]
    data: Any
    editing: int | None
    insert_at: int
    history: list[tuple[list[LayerSpec], Any]]
    app: Any
    notify: Any
    query_one: Any
    has_class: Any
    set_class: Any
    validate: Any

    def action_model(self, what: str) -> None:
        if self.has_class("settings"):  # the model keys bring the model back into view
            self.set_class(False, "settings")
            focus_now(self.query_one(LayerStack))
        if what == "undo":
            self.undo()
            return
        stack = self.query_one(LayerStack)
        self.edit_stack(LayerStack.Requested(what, stack.cursor_row or 0))

    def remember(self, what: str = "the last edit") -> None:
        """The model as it is, before an edit (`what`, said when `u` comes back to it)."""
        self.history.append((list(self.model_layers), copy.deepcopy(self.raw.get("sweep"))))
        self.undo_what = [*getattr(self, "undo_what", []), what][-50:]
        del self.history[:-50]

    def toast(self, message: str, severity: str = "information") -> None:
        """One model toast at a time: a burst of edits does not pile them up."""
        self.app.clear_notifications()
        self.notify(message, severity=severity, timeout=4)  # type: ignore[arg-type]

    def undo(self) -> None:
        if not self.history:
            self.toast("nothing to undo")
            return
        self.model_layers, sweep = self.history.pop()
        whats = getattr(self, "undo_what", [])
        what = whats.pop() if whats else "the last edit"
        if sweep:
            self.raw["sweep"] = sweep
        else:
            self.raw.pop("sweep", None)
        self.refresh_stack()
        self.validate()
        self.toast(f"undone: {what}")

    def refresh_stack(self) -> None:
        shape = self.data.input_shape if self.data is not None else None
        marks: dict[int, str] = {}
        for f in getattr(self, "findings", []):
            if f.where.startswith("model.layers["):
                index = int(f.where.split("[")[1].split("]")[0])
                marks.setdefault(index, f"{'✗' if f.severity == 'error' else '⚠'} {f.id}")
        # Full layer labels need a wide model panel (the form takes 54 columns beside it).
        total, problem = self.query_one(LayerStack).show(
            self.model_layers, shape, marks, narrow=self.has_class("narrow"),
            short=self.app.size.width < 170)
        text = f"{total:,} params, all trainable; {len(self.model_layers)} layers"
        if problem:
            text += f"\n✗ {problem}"
        self.query_one("#totals", Static).update(text)

    def preview_layer(self, text: str) -> None:
        message = self.query_one("#layer-message", Static)
        if text == getattr(self, "_refused", None):
            return
        self._refused = None
        if not text.strip():
            message.update("")
            return
        try:
            layer, varied = parse_varied_layer(text)
        except LayerSyntaxError as err:
            message.update(f"✗ {err}")
            return
        tried = "".join(f"; sweep tries {k} = {', '.join(map(str, v))}" for k, v in varied.items())
        preview = self.model_layers.copy()
        if self.editing is not None:
            preview[self.editing] = layer
        else:
            preview.insert(self.insert_at, layer)
        if self.data is None:
            message.update(f"ok: {layer.describe()}")
            return
        from dltui.engine.model.shapes import layer_rows

        row = layer_rows(preview, self.data.input_shape)[self.insert_at if self.editing is None
                                                         else self.editing]
        message.update(f"✗ {row.error}" if row.error else
                       f"ok: output {(None, *(row.out_shape or ()))}, {row.params:,} params{tried}")

    def add_typed_layer(self, event: Input.Submitted) -> None:
        message = self.query_one("#layer-message", Static)
        try:
            layer, varied = parse_varied_layer(event.value)
        except LayerSyntaxError as err:
            self._give_back(event)
            message.update(f"✗ {err}")
            return
        problem = self._misfit(layer)
        if problem:  # the preview said so: a layer that cannot take its input is not added
            self._give_back(event)
            message.update(f"✗ not added: {problem}")
            return
        self.remember(f"edit layer {self.editing} to {format_layer(layer)}"
                      if self.editing is not None else f"add {format_layer(layer)}")
        if self.editing is not None:
            index = self.editing
            self.model_layers[index] = layer
            self.editing = None
            focus_now(self.query_one(LayerStack))
        else:
            index = self.insert_at
            self._shift_layer_sweeps(lambda i: i + 1 if i >= index else i)
            self.model_layers.insert(self.insert_at, layer)
            self.insert_at += 1  # keep typing: the next layer goes after this one
        self._set_layer_sweep(index, varied)
        self.refresh_stack()
        self.query_one(LayerStack).move_cursor(row=self.insert_at if self.editing is None else 0)
        self.validate()

    def _give_back(self, event: Input.Submitted) -> None:
        """A layer not added goes back into the field (it was emptied at Enter), to be fixed;
        anything typed since follows it."""
        box = event.input
        self._refused = event.value + box.value  # the preview then keeps the refusal shown
        box.value = self._refused
        box.cursor_position = len(event.value)

    def _misfit(self, layer: LayerSpec) -> str:
        """Why `layer` cannot go where it is being put ('' when it fits, or no data yet)."""
        if self.data is None:
            return ""
        from dltui.engine.model.shapes import layer_rows

        preview = self.model_layers.copy()
        if self.editing is not None:
            preview[self.editing] = layer
            at = self.editing
        else:
            preview.insert(self.insert_at, layer)
            at = self.insert_at
        return layer_rows(preview[:at + 1], self.data.input_shape)[at].error or ""

    def edit_stack(self, event: LayerStack.Requested) -> None:
        index = max(0, event.row - 1)  # row 0 is the input row
        box = self.query_one("#layer-input", Input)
        has = bool(self.model_layers) and event.row >= 1
        if event.what in ("add", "insert"):
            # `a` adds at the end; `i` inserts above the selected layer.
            self.editing = None
            self.insert_at = len(self.model_layers) if event.what == "add" \
                else (index if has else 0)
            box.value = ""
            focus_now(box)
            return
        if not has:
            return
        if event.what == "edit":
            self.editing = index
            box.value = format_layer(self.model_layers[index])
            focus_now(box)
            return
        layer_now = self.model_layers[index]
        self.remember(f"{event.what} {'layer ' + str(index) + ' ' if event.what != 'delete' else ''}"
                      f"{format_layer(layer_now)}")
        if event.what == "delete":
            self.toast(f"deleted layer {index} ({format_layer(layer_now)}); u undoes")
            del self.model_layers[index]
            gone = index
            self._shift_layer_sweeps(lambda i: None if i == gone else i - 1 if i > gone else i)
        elif event.what == "duplicate":
            self.model_layers.insert(index + 1, self.model_layers[index])
            after = index
            self._shift_layer_sweeps(lambda i: i + 1 if i > after else i)
            index += 1
        elif event.what in ("up", "down"):
            other = index - 1 if event.what == "up" else index + 1
            if 0 <= other < len(self.model_layers):
                stack = self.model_layers
                stack[index], stack[other] = stack[other], stack[index]
                a, b = index, other
                self._shift_layer_sweeps(lambda i: b if i == a else a if i == b else i)
                index = other
        self.refresh_stack()
        self.query_one(LayerStack).move_cursor(row=min(index, len(self.model_layers) - 1) + 1)
        self.validate()

    def _set_layer_sweep(self, index: int, varied: dict[str, Any]) -> None:
        """The values a sweep tries for this layer's fields (typed as `Dense 4,16,64 relu`)."""
        sweep = {k: v for k, v in (self.raw.get("sweep") or {}).items()
                 if not k.startswith(f"model.layers[{index}].")}
        sweep.update({f"model.layers[{index}].{name}": values for name, values in varied.items()})
        if sweep:
            self.raw["sweep"] = sweep
        else:
            self.raw.pop("sweep", None)

    def _shift_layer_sweeps(self, move: Any) -> None:
        """Keep varied layer fields on their layer when layers are inserted, deleted or moved."""
        sweep = self.raw.get("sweep") or {}
        out = {}
        for key, values in sweep.items():
            found = re.match(r"^model\.layers\[(\d+)\]\.(.+)$", key)
            if not found:
                out[key] = values
                continue
            new = move(int(found.group(1)))
            if new is not None:
                out[f"model.layers[{new}].{found.group(2)}"] = values
        if out:
            self.raw["sweep"] = out
        else:
            self.raw.pop("sweep", None)

    def action_to_stack(self) -> None:
        self.set_class(False, "settings")
        self.editing = None
        self.query_one("#layer-input", Input).value = ""
        focus_now(self.query_one(LayerStack))
