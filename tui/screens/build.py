"""The build screen: data, the layer stack with live shapes, training and validation settings,
validated as you type; train, save and load presets from here."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Input, Label, Select, Static

from dltui.engine.model.layers import LayerSpec

from ..ui_thread import from_thread
from ..widgets.field import Field, focus_now
from ..widgets.keys_footer import KeysFooter
from ..widgets.layer_stack import LayerStack
from ..widgets.settings_form import SettingsForm
from .build_doctor import DoctorPanel
from .build_model import ModelEditing
from .preset_files import PresetFiles, preset_label

EMPTY: dict[str, Any] = {
    "name": "my-model",
    "data": {"source": "builtin:breast_cancer"},
    "train": {"loss": "binary_crossentropy", "metrics": ["accuracy"], "epochs": 20,
              "batch_size": 32},
    "validation": {"scheme": "holdout"},
}


def describe_any(err: Exception) -> str:
    """One line for a data problem, named as the preset names it (data.source, ...)."""
    if isinstance(err, ValidationError):
        from dltui.engine.presets import describe_error

        return f"data.{describe_error(err)}"
    return str(err).splitlines()[0]


class BuildScreen(ModelEditing, DoctorPanel, PresetFiles, Screen[None]):
    # The model keys act on the model wherever the focus is, except in a text field being
    # typed in (the field takes the letter); the footer then shows Esc, back to the model.
    # Priority: run in the app before the next key is forwarded, so `a` then `Dense` typed at
    # full speed lands in the layer field, and Tab then `25` in the next field (widgets/field.py).
    BINDINGS = [
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
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
        Binding("a", "model('add')", "Add", show=False, priority=True, tooltip="add a layer at the end "
                "(type e.g. `Dense 16 relu`, Enter; the next one follows it)"),
        Binding("i", "model('insert')", "Insert", show=False, priority=True,
                tooltip="insert a layer above the selected one"),
        Binding("e", "model('edit')", "Edit", show=False, priority=True, tooltip="edit the selected layer"),
        Binding("d,delete", "model('delete')", "Delete", show=False, priority=True,
                tooltip="delete the selected layer (u undoes)"),
        Binding("c", "model('duplicate')", "Copy", show=False, priority=True,
                tooltip="duplicate the selected layer"),
        Binding("K", "model('up')", "Up", show=False, priority=True,
                tooltip="move the selected layer up"),
        Binding("J", "model('down')", "Down", show=False, priority=True,
                tooltip="move the selected layer down"),
        Binding("u", "model('undo')", "Undo", show=False, priority=True,
                tooltip="undo the last model edit"),
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
        self.data_error: str | None = None  # why the data did not load (the status says it)
        self.editing: int | None = None  # layer index being edited, None when adding
        self.findings: list[Any] = []  # the doctor's, for what is on screen
        self._engine_loading = False  # torch (the device list) loads once, after the data
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
                yield Field(placeholder="layer, e.g. Dense 16 relu (Enter adds)", id="layer-input",
                            clear_on_submit=True)
                yield Static("", id="layer-message")
                yield Static("", id="totals")
                yield VerticalScroll(Static("", id="doctor"), id="doctor-panel", can_focus=True)
        yield Static("", id="status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.fill_form()
        self.refresh_stack()
        self.validate()
        # After the first paint: a thread importing torch holds Python's import lock, and the
        # screen's own first imports (Textual loads its widgets lazily) would wait for it.
        self.call_after_refresh(self.load_data)
        focus_now(self.query_one(LayerStack))

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

    def _choosing(self) -> bool:
        """An open select list: letters jump to its options, Tab closes it."""
        return any(select.expanded for select in self.query(Select))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "model":  # a text field takes the letter; the footer shows Esc instead
            return not self._typing() and not self._choosing()
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
            focus_now(self.query_one(LayerStack))
        self._show_mode()

    def action_help(self, key: str) -> None:
        self.app.action_help()  # type: ignore[attr-defined]

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

    @on(Input.Submitted, "#layer-input")
    def _layer_submitted(self, event: Input.Submitted) -> None:
        self.add_typed_layer(event)

    @on(LayerStack.Requested)
    def _stack_request(self, event: LayerStack.Requested) -> None:
        self.edit_stack(event)

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

    @work(thread=True, exclusive=True, group="engine")
    def load_engine(self) -> None:
        """Import torch (2 s) once the screen is drawn: the device list needs it, and training
        starts sooner with it loaded."""
        from dltui.engine.train.device import available_devices

        devices = available_devices()
        from_thread(self, lambda: self.query_one(SettingsForm).set_devices(devices))

    # -- data ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="data")
    def load_data(self) -> None:
        from dltui.engine.data.dataset import load_data
        from dltui.engine.errors import InputError
        from dltui.engine.spec import DataSpec

        base = self.source_path.parent if self.source_path else None
        try:
            data = load_data(DataSpec.model_validate(self.raw.get("data", {})), base)
            message, error = data.describe(), None
        except (InputError, ValidationError, ValueError) as err:
            data, error = None, describe_any(err)
            message = f"✗ {error}"
        except Exception as err:  # an unreadable file, a permission: said, never a crash
            data, error = None, f"data.source: {type(err).__name__}: {err}"
            message = f"✗ {error}"
        from_thread(self, self._data_loaded, data, message, error)

    def _data_loaded(self, data: Any, message: str, error: str | None = None) -> None:
        if not self._engine_loading:
            # Torch after the data: the shapes and the doctor need only the data (formulas), and
            # a torch import beside the data's read shares the interpreter with it.
            self._engine_loading = True
            self.load_engine()
        self.data, self.data_error = data, error
        self.query_one("#data-info", Static).update(message)
        self.refresh_stack()
        self.validate()

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
        self.app.push_screen(TrainScreen(run.reader(), preset.name))

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
