"""Saving and loading presets from the builder: never over a file without asking, never into the
shipped presets, unfinished ones kept with a warning, unsaved edits asked about before a load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from textual.widgets import Static

from ..widgets.field import focus_now
from ..widgets.layer_stack import LayerStack
from .prompt import PromptScreen


def _shipped(path: Path) -> bool:
    from dltui.engine.presets import shipped_presets

    try:
        return path.resolve() in {p.resolve() for p in shipped_presets().values()}
    except OSError:
        return False


def preset_label(path: Path) -> str:
    """A shipped preset by its name; the user's own by its path."""
    from dltui.engine.presets import shipped_presets

    shipped = shipped_presets()
    if shipped.get(path.stem) == path:
        return f"{path.stem} (shipped preset)"
    return str(path)


def _without_nulls(value: Any) -> Any:
    """TOML has no null: unset settings are left out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


class PresetFiles:
    """The builder's file commands (a mixin of BuildScreen: it owns raw, model_layers,
    source_path, saved and history)."""

    raw: dict[str, Any]
    source_path: Path | None
    saved: str
    app: Any
    notify: Any
    query_one: Any
    validate: Any
    preset_dict: Any
    fill_form: Any
    refresh_stack: Any
    load_data: Any
    history: list[Any]
    model_layers: list[Any]
    sub_title: str

    def _snapshot(self) -> str:
        """The preset as it stands, defaults filled in (the form writing a default back is
        not an edit)."""
        import json

        from dltui.engine.spec import DataSpec, Preset, TrainSpec, ValidationSpec

        raw = self.preset_dict()
        try:
            raw = Preset.model_validate(raw).model_dump(mode="json")
        except ValidationError:
            # Not runnable yet (no layers, say): each section that validates on its own is
            # compared with its defaults filled in all the same.
            for key, spec in (("data", DataSpec), ("train", TrainSpec),
                              ("validation", ValidationSpec)):
                try:
                    raw[key] = spec.model_validate(raw.get(key, {})).model_dump(mode="json")
                except ValidationError:
                    pass
        return json.dumps(raw, sort_keys=True, default=str)

    @property
    def dirty(self) -> bool:
        return self._snapshot() != self.saved

    def action_save(self) -> None:
        """Save, finished or not: an unfinished preset is saved as it stands, with a warning
        that it will not run yet (work is never lost for want of a last layer)."""
        preset = self.validate()
        question = "Save preset as (TOML path):"
        if preset is None:
            problem = str(self.query_one("#status", Static).render()).lstrip("✗ ")
            question = f"Not finished ({problem[:60]}): it won't run yet. Save as:"
        name = preset.name if preset is not None else str(self.raw.get("name") or "my-model")
        self.app.push_screen(PromptScreen(question, str(self._save_default(name))), self._save_to)

    def _save_default(self, name: str) -> Path:
        """The user's own file, or for a shipped preset a new file in the working directory
        (the shipped ones are never written from the app)."""
        if self.source_path is not None and not _shipped(self.source_path):
            return self.source_path
        path, n = Path(f"{name}.toml"), 2
        while path.exists():
            path, n = Path(f"{name}-{n}.toml"), n + 1
        return path

    def _save_to(self, answer: str | None) -> None:
        from .prompt import ConfirmScreen

        if not answer:
            return
        path = Path(answer).expanduser()
        if _shipped(path):
            self.notify("the shipped presets are read-only; save under another path",
                        severity="error")
            return
        if path.exists():
            self.app.push_screen(ConfirmScreen(f"{path} exists. Overwrite it?"),
                                 lambda yes: self._write_preset(path) if yes else None)
            return
        self._write_preset(path)

    def _write_preset(self, path: Path) -> None:
        """Write the preset as it stands; one that does not validate yet is written raw, with a
        warning that it will not run."""
        import tomli_w

        from dltui.engine.presets import preset_to_toml

        preset = self.validate()
        try:
            if preset is None:
                raw = self.preset_dict()
                raw["name"] = self._own_name(raw.get("name"), path)
                text = tomli_w.dumps(_without_nulls(raw))
                done, severity = (f"saved {path}, unfinished: it will not run until the status "
                                  "line says ready"), "warning"
            else:
                preset = preset.model_copy(update={"name": self._own_name(preset.name, path)})
                text = preset_to_toml(self._rebased(preset, path.parent))
                done, severity = f"saved {path}; run it with: dltui run {path}", "information"
            path.write_text(text, encoding="utf-8")
        except (OSError, TypeError) as err:
            self.notify(f"cannot save: {err}", severity="error")
            return
        self.source_path = path
        self.saved = self._snapshot()
        self.notify(done, severity=severity)

    def _own_name(self, name: Any, path: Path) -> Any:
        """A copy of a shipped preset gets its own name (the file's), not the shipped one's."""
        if self.source_path is not None and _shipped(self.source_path) \
                and name == self.source_path.stem:
            self.raw["name"] = path.stem
            return path.stem
        return name

    def _rebased(self, preset: Any, new_dir: Path) -> Any:
        """A relative CSV/NPZ path is read next to the preset: keep it pointing at the same file
        when the preset is saved somewhere else."""
        import os

        from dltui.engine.data.dataset import resolve_path

        kind, _, ref = preset.data.source.partition(":")
        if kind == "builtin" or Path(ref).is_absolute():
            return preset
        old = resolve_path(ref, self.source_path.parent if self.source_path else None)
        if not old.exists():
            return preset
        moved = os.path.relpath(old.resolve(), new_dir.resolve())
        data = preset.data.model_copy(update={"source": f"{kind}:{moved}"})
        self.raw.setdefault("data", {})["source"] = data.source
        return preset.model_copy(update={"data": data})

    def action_load(self) -> None:
        self._unless_unsaved(self._ask_load)

    def request_load(self, name: str) -> None:
        """Load `name` (the palette's shipped presets), asking first over unsaved edits."""
        self._unless_unsaved(lambda: self._load_from(name))

    def _unless_unsaved(self, then: Any) -> None:
        """Run `then`, asking first when the model has edits no file holds."""
        from .prompt import ConfirmScreen

        if self.dirty:
            self.app.push_screen(ConfirmScreen("The model has unsaved edits. Load another preset "
                                               "and lose them?"),
                                 lambda yes: then() if yes else None)
            return
        then()

    def _ask_load(self) -> None:
        from dltui.engine.presets import shipped_presets

        shipped = sorted(shipped_presets())
        # the user's own presets by the name they would type: relative to here, not absolute
        local = sorted(str(p.relative_to(Path.cwd()))
                       for p in [*Path.cwd().glob("*.toml"), *Path.cwd().glob("presets/*.toml")])
        self.app.push_screen(PromptScreen("Load preset (Tab completes):", "",
                                          choices=[*shipped, *local]), self._load_from)

    def _load_from(self, answer: str | None) -> None:
        from dltui.engine.errors import InputError
        from dltui.engine.presets import load_preset

        if not answer:
            return
        try:
            preset, path = load_preset(answer)
        except InputError as err:
            self.notify(str(err), severity="error")
            return
        self.load_preset(preset, path)
        focus_now(self.query_one(LayerStack))

    def load_preset(self, preset: Any, path: Path) -> None:
        data = preset.model_dump(mode="json", exclude_none=True)
        self.model_layers = list(preset.model.layers)
        data.pop("model")
        self.raw, self.source_path = data, path
        self.fill_form()
        self.refresh_stack()
        self.validate()
        self.load_data()
        self.sub_title = preset_label(path)
        self.history.clear()
        self.saved = self._snapshot()
