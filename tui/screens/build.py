"""The build screen: data, the layer stack with live shapes, training and validation settings,
validated as you type; train, save and load presets from here."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

from dltui.engine.model.layers import LayerSpec

from ..layer_syntax import LayerSyntaxError, format_layer, parse_varied_layer
from ..widgets.layer_stack import LayerStack
from ..widgets.settings_form import SettingsForm
from .preset_files import PresetFiles, preset_label

EMPTY: dict[str, Any] = {
    "name": "my-model",
    "data": {"source": "builtin:breast_cancer"},
    "train": {"loss": "binary_crossentropy", "metrics": ["accuracy"], "epochs": 20,
              "batch_size": 32},
    "validation": {"scheme": "holdout"},
}


class BuildScreen(PresetFiles, Screen[None]):
    # The model keys act on the model wherever the focus is, except in a text field being
    # typed in (the field takes the letter); the footer then shows Esc, back to the model.
    BINDINGS = [
        Binding("ctrl+t,f5", "train", "Train", priority=True, tooltip="train the model on screen"),
        Binding("ctrl+s", "save", "Save", priority=True,
                tooltip="save as a preset (TOML that `dltui run` runs); never overwrites silently"),
        Binding("ctrl+o", "load", "Load", priority=True,
                tooltip="load a preset: a shipped name or a .toml file (Tab completes)"),
        Binding("ctrl+r", "app.runs", "Runs", priority=True, tooltip="the runs screen"),
        Binding("ctrl+f", "fix", "Fix", priority=True, show=False,
                tooltip="apply the model doctor's first fix"),
        Binding("f1", "help('f1')", "Help", tooltip="this help, also while typing in a field"),
        Binding("question_mark", "help('?')", "Help", key_display="?",
                tooltip="this help (in a field ? is typed: F1 there)"),
        Binding("a", "model('add')", "Add", show=False, tooltip="add a layer at the end "
                "(type e.g. `Dense 16 relu`, Enter; the next one follows it)"),
        Binding("i", "model('insert')", "Insert", show=False,
                tooltip="insert a layer above the selected one"),
        Binding("e", "model('edit')", "Edit", show=False, tooltip="edit the selected layer"),
        Binding("d,delete", "model('delete')", "Delete", show=False,
                tooltip="delete the selected layer (u undoes)"),
        Binding("c", "model('duplicate')", "Copy", show=False,
                tooltip="duplicate the selected layer"),
        Binding("K", "model('up')", "Up", show=False, tooltip="move the selected layer up"),
        Binding("J", "model('down')", "Down", show=False, tooltip="move the selected layer down"),
        Binding("u", "model('undo')", "Undo", show=False, tooltip="undo the last model edit"),
        Binding("escape", "to_stack", "Model", tooltip="leave the field: back to the model keys"),
        Binding("ctrl+e", "toggle_panel", "Settings", tooltip="below 100 columns: switch "
                "between the settings and the model (each then takes the whole width)"),
        Binding("ctrl+d", "focus_doctor", "Doctor", show=False,
                tooltip="scroll the model doctor's panel (arrow keys)"),
    ]

    def __init__(self, raw: dict[str, Any] | None = None, layers: list[LayerSpec] | None = None,
                 source_path: Path | None = None) -> None:
        super().__init__()
        self.raw = copy.deepcopy(raw or EMPTY)
        self.model_layers: list[LayerSpec] = list(layers or [])
        self.source_path = source_path
        self.data: Any = None
        self.editing: int | None = None  # layer index being edited, None when adding
        self.findings: list[Any] = []  # the doctor's, for what is on screen
        self.insert_at = 0
        self.history: list[tuple[list[LayerSpec], Any]] = []  # model edits, for `u`
        self.saved = self._snapshot()  # what the file on disk holds, to know about unsaved edits

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="build"):
            yield SettingsForm(id="form")
            with Vertical(id="model"):
                yield Label("Model: a add · i insert · e edit · d delete · c copy · K/J move · "
                            "u undo", classes="section", id="model-keys")
                yield LayerStack(id="stack")
                yield Input(placeholder="layer, e.g. Dense 16 relu (Enter adds)", id="layer-input")
                yield Static("", id="layer-message")
                yield Static("", id="totals")
                yield VerticalScroll(Static("", id="doctor"), id="doctor-panel", can_focus=True)
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.fill_form()
        self.refresh_stack()
        self.validate()
        self.load_data()
        self.query_one(LayerStack).focus()

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        short = self.app.size.width < 170
        if short != getattr(self, "_short", None):
            self._short = short
            self.refresh_stack()
        if narrow != self.has_class("narrow"):
            self.set_class(narrow, "narrow")
            if not narrow:
                self.set_class(False, "settings")
            self.refresh_stack()
            self.refresh_bindings()

    # -- keys and modes --------------------------------------------------------------------
    def _typing(self) -> bool:
        return isinstance(self.focused, Input)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "model":  # a text field takes the letter; the footer shows Esc instead
            return not self._typing()
        if action == "toggle_panel":
            return self.has_class("narrow")
        if action == "help":  # the footer offers ? outside text fields, F1 inside them
            return (parameters == ("f1",)) == self._typing()
        if action == "to_stack":
            return self._typing()
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
        self._show_mode()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()
        self._show_mode()

    def _show_mode(self) -> None:
        label = self.query_one("#model-keys", Label)
        if self._typing():
            label.update("Typing in a field: Esc returns to the model keys")
        else:
            label.update("Model: a add · i insert · e edit · d delete · c copy · K/J move · "
                         "u undo")

    def action_toggle_panel(self) -> None:
        """80 columns: one panel at a time, each with the whole width."""
        showing = not self.has_class("settings")
        self.set_class(showing, "settings")
        if showing:
            self.query_one(SettingsForm).focus_first()
        else:
            self.query_one(LayerStack).focus()
        self._show_mode()

    def action_model(self, what: str) -> None:
        if self.has_class("settings"):  # the model keys bring the model back into view
            self.set_class(False, "settings")
            self.query_one(LayerStack).focus()
        if what == "undo":
            self.undo()
            return
        stack = self.query_one(LayerStack)
        self._stack_request(LayerStack.Requested(what, stack.cursor_row or 0))

    def action_help(self, key: str) -> None:
        self.app.action_help()  # type: ignore[attr-defined]

    def action_focus_doctor(self) -> None:
        self.query_one("#doctor-panel").focus()

    # -- undo and unsaved edits -------------------------------------------------------------
    def remember(self) -> None:
        """The model as it is, before an edit: `u` comes back to it."""
        self.history.append((list(self.model_layers), copy.deepcopy(self.raw.get("sweep"))))
        del self.history[:-50]

    def undo(self) -> None:
        if not self.history:
            self.notify("nothing to undo", severity="information")
            return
        self.model_layers, sweep = self.history.pop()
        if sweep:
            self.raw["sweep"] = sweep
        else:
            self.raw.pop("sweep", None)
        self.refresh_stack()
        self.validate()
        self.notify("undone")

    # -- form <-> raw preset ------------------------------------------------------------------
    def fill_form(self) -> None:
        self.query_one(SettingsForm).fill(self.raw)

    def _set(self, section: str, key: str, value: Any) -> None:
        part = self.raw.setdefault(section, {})
        sweep = self.raw.setdefault("sweep", {})
        if isinstance(value, list) and key != "metrics":
            # "1e-3, 1e-2": a sweep varies this setting; the first value is the base preset's.
            sweep[f"{section}.{key}"] = value
            value = value[0] if value else None
        else:
            sweep.pop(f"{section}.{key}", None)
        if not sweep:
            self.raw.pop("sweep")
        if value is None or value == "":
            part.pop(key, None)
        else:
            part[key] = value

    @on(Input.Changed, "#layer-input")
    def _layer_typed(self, event: Input.Changed) -> None:
        self.preview_layer(event.value)

    @on(SettingsForm.Changed)
    def _setting_changed(self, event: SettingsForm.Changed) -> None:
        self._set(event.section, event.key, event.value)
        self.validate((event.section, event.key))
        if event.section == "data":
            self.load_data()

    def preset_dict(self) -> dict[str, Any]:
        raw = copy.deepcopy(self.raw)
        raw["model"] = {"layers": [layer.model_dump(mode="json") for layer in self.model_layers]}
        return raw

    def validate(self, editing: tuple[str, ...] = ()) -> Any:
        """The preset as it stands, or None; the status line says what is wrong (preferring the
        field being edited), and the form says how many trainings the scheme implies."""
        from dltui.engine.presets import describe_error
        from dltui.engine.spec import Preset

        self._show_trainings()
        status = self.query_one("#status", Static)
        try:
            preset = Preset.model_validate(self.preset_dict())
        except ValidationError as err:
            status.update(f"✗ {describe_error(err, editing)}")
            status.set_class(True, "bad")
            return None
        findings = self.examine(preset)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            status.update(f"✗ {errors[0].where}: {errors[0].message}")
            status.set_class(True, "bad")
            return None
        status.set_class(False, "bad")
        if self.raw.get("sweep") and self.data is not None:
            from dltui.engine.errors import InputError
            from dltui.engine.sweeps.plan import plan_sweep

            try:
                plan = plan_sweep(self.preset_dict(), "sweep")
            except InputError as err:
                status.update(f"✗ {err}")
                status.set_class(True, "bad")
                return None
            status.update(f"ready: ctrl+t runs a sweep of {len(plan.variants)} variants "
                          f"({', '.join(plan.keys)})")
            return preset
        status.update("ready: ctrl+t trains" if self.data is not None else "loading the data...")
        return preset

    def examine(self, preset: Any) -> list[Any]:
        """The doctor's findings for what is on screen: listed in the panel, marked on layers."""
        from dltui.engine.doctor.examine import examine

        self.findings = examine(preset, self.data) if self.data is not None else []
        marks = {"error": "✗", "warning": "⚠", "hint": "·"}
        lines = []
        for f in self.findings:
            fix = "  (ctrl+f fixes)" if f.fix and f is self._fixable() else ""
            lines.append(f"{marks[f.severity]} {f.where}: {f.message}{fix}")
        if self.findings:  # the reason for the first one; `dltui check` prints them all
            lines.append(f"  why: {self.findings[0].why}")
        self.query_one("#doctor", Static).update("\n".join(lines))
        self._flag_settings()
        self.refresh_stack()
        return self.findings

    def _flag_settings(self) -> None:
        """Mark the form fields the doctor's findings concern (layers get a note in the table)."""
        for widget in self.query(".flagged-error, .flagged-warning"):
            widget.remove_class("flagged-error", "flagged-warning")
        for f in reversed(self.findings):  # errors last, so they win
            if f.where.startswith("model") or "." not in f.where:
                continue
            for widget in self.query(f"#{f.where.replace('.', '-')}"):
                widget.remove_class("flagged-error", "flagged-warning")
                widget.add_class("flagged-error" if f.severity == "error" else "flagged-warning")

    def _fixable(self) -> Any:
        return next((f for f in getattr(self, "findings", []) if f.fix), None)

    def action_fix(self) -> None:
        """Apply the fix of the first finding that has one (errors come first)."""
        from dltui.engine.doctor.examine import apply_fix
        from dltui.engine.spec import Preset

        finding = self._fixable()
        if finding is None:
            self.notify("the doctor has no fix to apply", severity="information")
            return
        self.remember()
        raw = apply_fix(self.preset_dict(), finding.fix)
        try:
            fixed = Preset.model_validate(raw)
        except ValidationError as err:
            self.notify(f"cannot apply the fix: {err.errors()[0]['msg']}", severity="error")
            return
        self.model_layers = list(fixed.model.layers)
        raw.pop("model")
        self.raw = raw
        self.fill_form()
        self.validate()
        self.notify(f"applied: {', '.join(f'{k} = {v}' for k, v in finding.fix.items())}")

    def _show_trainings(self) -> None:
        from dltui.engine.spec import ValidationSpec

        label = self.query_one("#trainings", Static)
        try:
            v = ValidationSpec.model_validate(self.raw.get("validation", {}))
        except ValidationError:
            label.update("")
            return
        count = {"holdout": v.shuffles, "kfold": v.k, "iterated-kfold": v.k * v.repeats}[v.scheme]
        fit = " + a final fit" if v.final_fit and v.scheme != "holdout" else ""
        epochs = self.raw.get("train", {}).get("epochs", "?")
        label.update(f"{v.scheme}: {count} training(s){fit} x {epochs} epochs")

    # -- data ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="data")
    def load_data(self) -> None:
        from dltui.engine.data.dataset import load_data
        from dltui.engine.errors import InputError
        from dltui.engine.spec import DataSpec

        base = self.source_path.parent if self.source_path else None
        try:
            data = load_data(DataSpec.model_validate(self.raw.get("data", {})), base)
            message = data.describe()
        except (InputError, ValidationError, ValueError) as err:
            data, message = None, f"✗ {str(err).splitlines()[0]}"
        self.app.call_from_thread(self._data_loaded, data, message)

    def _data_loaded(self, data: Any, message: str) -> None:
        self.data = data
        self.query_one("#data-info", Static).update(message)
        self.refresh_stack()
        self.validate()

    # -- the layer stack -----------------------------------------------------------------------
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
        from dltui.engine.model.build import layer_rows

        row = layer_rows(preview, self.data.input_shape)[self.insert_at if self.editing is None
                                                         else self.editing]
        message.update(f"✗ {row.error}" if row.error else
                       f"ok: output {(None, *(row.out_shape or ()))}, {row.params:,} params{tried}")

    @on(Input.Submitted, "#layer-input")
    def _layer_submitted(self, event: Input.Submitted) -> None:
        message = self.query_one("#layer-message", Static)
        try:
            layer, varied = parse_varied_layer(event.value)
        except LayerSyntaxError as err:
            message.update(f"✗ {err}")
            return
        problem = self._misfit(layer)
        if problem:  # the preview said so: a layer that cannot take its input is not added
            message.update(f"✗ not added: {problem}")
            return
        self.remember()
        if self.editing is not None:
            index = self.editing
            self.model_layers[index] = layer
            self.editing = None
            self.query_one(LayerStack).focus()
        else:
            index = self.insert_at
            self._shift_layer_sweeps(lambda i: i + 1 if i >= index else i)
            self.model_layers.insert(self.insert_at, layer)
            self.insert_at += 1  # keep typing: the next layer goes after this one
        self._set_layer_sweep(index, varied)
        event.input.value = ""
        self.refresh_stack()
        self.query_one(LayerStack).move_cursor(row=self.insert_at if self.editing is None else 0)
        self.validate()

    def _misfit(self, layer: LayerSpec) -> str:
        """Why `layer` cannot go where it is being put ('' when it fits, or no data yet)."""
        if self.data is None:
            return ""
        from dltui.engine.model.build import layer_rows

        preview = self.model_layers.copy()
        if self.editing is not None:
            preview[self.editing] = layer
            at = self.editing
        else:
            preview.insert(self.insert_at, layer)
            at = self.insert_at
        return layer_rows(preview[:at + 1], self.data.input_shape)[at].error or ""

    @on(LayerStack.Requested)
    def _stack_request(self, event: LayerStack.Requested) -> None:
        index = max(0, event.row - 1)  # row 0 is the input row
        box = self.query_one("#layer-input", Input)
        has = bool(self.model_layers) and event.row >= 1
        if event.what in ("add", "insert"):
            # `a` adds at the end; `i` inserts above the selected layer.
            self.editing = None
            self.insert_at = len(self.model_layers) if event.what == "add" \
                else (index if has else 0)
            box.value = ""
            box.focus()
            return
        if not has:
            return
        if event.what == "edit":
            self.editing = index
            box.value = format_layer(self.model_layers[index])
            box.focus()
            return
        self.remember()
        if event.what == "delete":
            gone_layer = self.model_layers[index]
            self.notify(f"deleted layer {index} ({gone_layer.describe()}); u undoes")
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
        self.query_one(LayerStack).focus()

    # -- train, save, load -----------------------------------------------------------------
    def action_train(self) -> None:
        from dltui.engine.errors import InputError
        from dltui.engine.preflight import prepare

        from ..run_source import InAppRun
        from .train import TrainScreen

        preset = self.validate()
        if preset is None:
            self.notify("fix the preset first (see the status line)", severity="error")
            return
        if self.app.running() is not None:  # type: ignore[attr-defined]
            self.notify("a training is already running: stop it first (ctrl+r, Enter on it, s)",
                        severity="warning")
            return
        base = self.source_path.parent if self.source_path else None
        if preset.sweep:
            self._start_sweep(base)
            return
        try:
            prep = prepare(preset, base)
        except InputError as err:
            self.query_one("#status", Static).update(f"✗ {err}")
            self.notify(str(err), severity="error")
            return
        runs_dir = self.app.runs_dir  # type: ignore[attr-defined]
        run = InAppRun(prep, runs_dir)
        self.app.training.append(run)  # type: ignore[attr-defined]
        self.app.push_screen(TrainScreen(run, preset.name))

    def _start_sweep(self, base: Path | None) -> None:
        from dltui.engine.errors import InputError
        from dltui.engine.sweeps.plan import plan_sweep

        from ..run_source import InAppSweep
        from .sweep import SweepScreen

        try:
            sweep = InAppSweep(plan_sweep(self.preset_dict(), "sweep"), self.app.runs_dir, base)  # type: ignore[attr-defined]
        except InputError as err:
            self.query_one("#status", Static).update(f"✗ {err}")
            self.notify(str(err), severity="error")
            return
        self.app.training.append(sweep)  # type: ignore[attr-defined]
        self.app.push_screen(SweepScreen(sweep.dir, sweep))

    @classmethod
    def for_preset(cls, preset: Any, path: Path) -> BuildScreen:
        data = preset.model_dump(mode="json", exclude_none=True)
        data.pop("model")
        screen = cls(data, list(preset.model.layers), path)
        screen.sub_title = preset_label(path)
        return screen
