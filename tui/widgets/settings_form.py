"""The build screen's settings: data, training and validation fields, each turned into a typed
value the moment it changes and reported up as one message (the screen owns the preset)."""

from __future__ import annotations

from typing import Any, get_args

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Label, Select, Static

from dltui.engine.spec import LossName, OptimizerName

from ..layer_syntax import parse_value
from .field import Field, focus_now

# (section, key, label, kind, options): the form, in the order Tab walks it.
FIELDS: list[tuple[str, str, str, str, list[str] | None]] = [
    ("data", "source", "source", "input", None),
    ("data", "target", "CSV target", "input", None),
    ("data", "view", "view", "select", ["flat", "image"]),
    ("data", "task", "task", "select", ["auto", "binary", "multiclass", "regression", "sequence"]),
    ("data", "time_ordered", "time-ordered", "check", None),
    ("train", "loss", "loss", "select", list(get_args(LossName))),
    ("train", "optimizer", "optimizer", "select", list(get_args(OptimizerName))),
    ("train", "learning_rate", "learning rate", "input", None),
    ("train", "metrics", "metrics", "input", None),
    ("train", "epochs", "epochs", "input", None),
    ("train", "batch_size", "batch size", "input", None),
    ("train", "seed", "seed", "input", None),
    ("train", "device", "device", "select", None),
    ("train", "patience", "patience", "input", None),
    ("validation", "scheme", "scheme", "select", ["holdout", "kfold", "iterated-kfold"]),
    ("validation", "val_fraction", "val fraction", "input", None),
    ("validation", "test_fraction", "test fraction", "input", None),
    ("validation", "shuffles", "shuffles", "input", None),
    ("validation", "k", "K", "input", None),
    ("validation", "repeats", "repeats", "input", None),
    ("validation", "smoothing", "smoothing", "input", None),
    ("validation", "stratify", "stratify", "check", None),
    ("validation", "dedupe", "dedupe", "check", None),
    ("validation", "final_fit", "final fit", "check", None),
    ("validation", "parallel_folds", "parallel folds", "check", None),
]
_KINDS = {f"{sec}-{key}": kind for sec, key, _label, kind, _options in FIELDS}


def _typed(key: str, text: str) -> Any:
    """What an input field's text means in the preset ('' removes the key: its default holds)."""
    if key == "metrics":
        return [m for m in text.replace(",", " ").split() if m]
    text = text.strip()
    if key in ("source", "target"):
        return text
    if "," in text:  # several values: the setting is varied in a sweep
        return [parse_value(part.strip()) for part in text.split(",") if part.strip()]
    return parse_value(text) if text else None


class YesNo(Checkbox):
    """A checkbox whose state reads without colour: `✓ yes` or `  no`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("no", **kwargs)

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button

    def watch_value(self) -> None:
        self.label = "yes" if self.value else "no"
        super().watch_value()  # the -on class and the Changed message


class SettingsForm(VerticalScroll):
    can_focus = False  # Tab goes field to field; focusing a field scrolls it into view
    class Changed(Message):
        def __init__(self, section: str, key: str, value: Any) -> None:
            super().__init__()
            self.section, self.key, self.value = section, key, value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._filling = False

    def compose(self) -> ComposeResult:
        section = ""
        for sec, key, label, kind, options in FIELDS:
            if sec != section:
                section = sec
                yield Label(sec.capitalize(), classes="section")
            if sec == "data" and key == "view":
                yield Static("", id="data-info")
            wid = f"{sec}-{key}"
            with Horizontal(classes="field"):
                yield Label(label, classes="field-label")
                if kind == "select":
                    # the GPUs are listed once torch has loaded, behind the first paint
                    opts = options or ["auto", "cpu"]
                    yield Select([(o, o) for o in opts], id=wid, allow_blank=False,
                                 value=opts[0], compact=True)
                elif kind == "check":
                    yield YesNo(id=wid, compact=True)
                elif key == "source":  # type-ahead through the built-in sets
                    from dltui.engine.data.datasets import BUILTIN

                    names = [f"builtin:{name}" for name in BUILTIN]
                    yield Field(id=wid, compact=True,
                                placeholder="builtin:NAME, csv:PATH, npz:PATH, parquet:PATH",
                                suggester=SuggestFromList(names, case_sensitive=False))
                else:
                    yield Field(id=wid, compact=True)
        yield Static("", id="trainings")

    def set_devices(self, devices: list[str]) -> None:
        """The device choices once torch says which GPUs there are (the value is kept)."""
        select = self.query_one("#train-device", Select)
        value = select.value
        options = ["auto", *devices]
        if isinstance(value, str) and value not in options:
            options.append(value)  # a preset's cuda:1 on a machine without it: still shown
        self._filling = True
        try:
            select.set_options([(o, o) for o in options])
            select.value = value if isinstance(value, str) else "auto"
        finally:
            self._filling = False

    def focus_first(self) -> None:
        first = next(iter(self.query("Input, Select, Checkbox")), None)
        if first is not None:
            focus_now(first)

    def fill(self, raw: dict[str, Any]) -> None:
        """Show a preset's values (a key it leaves out shows the spec's default; a key its
        sweep varies shows the values tried)."""
        from dltui.engine.spec import DataSpec, TrainSpec, ValidationSpec

        specs = {"data": DataSpec, "train": TrainSpec, "validation": ValidationSpec}
        varied = raw.get("sweep") or {}
        self._filling = True
        try:
            for sec, key, _label, kind, _options in FIELDS:
                value = raw.get(sec, {}).get(key)
                if kind == "input" and isinstance(varied.get(f"{sec}.{key}"), list):
                    self.query_one(f"#{sec}-{key}", Input).value = ", ".join(
                        str(v) for v in varied[f"{sec}.{key}"])
                    continue
                if value is None:
                    field = specs[sec].model_fields[key]
                    value = None if field.is_required() else field.default
                widget: Any = self.query_one(f"#{sec}-{key}")
                if kind == "check":
                    widget.value = bool(value) if value is not None else key == "stratify"
                elif kind == "select":
                    if value is not None:
                        if key == "device" and str(value) not in {o for _, o in widget._options}:
                            widget.set_options([*widget._options, (str(value), str(value))])
                        widget.value = str(value)
                elif key == "metrics":
                    widget.value = ", ".join(value or [])
                else:
                    widget.value = "" if value is None else str(value)
        finally:
            self._filling = False

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        event.stop()
        wid = event.control.id if event.control is not None else None
        if self._filling or wid not in _KINDS:
            return
        section, key = wid.split("-", 1)
        value = _typed(key, event.value) if _KINDS[wid] == "input" else event.value
        self.post_message(self.Changed(section, key, value))
