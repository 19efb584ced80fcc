"""The builder's checks as you type: the preset validated (the status line says what to fix
first), the doctor's findings listed and marked on the fields and layers they concern, its first
fix applied with ctrl+f, and the number of trainings the validation scheme implies."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from textual import work
from textual.css.query import NoMatches
from textual.widgets import Static

from ..ui_thread import from_thread
from ..widgets.field import focus_now


class DoctorPanel:
    """Validation and the doctor (a mixin of BuildScreen: it owns raw, model_layers, data and
    findings)."""

    raw: dict[str, Any]
    model_layers: list[Any]
    data: Any
    findings: list[Any]
    notify: Any
    app: Any
    source_path: Any
    query_one: Any
    query: Any
    preset_dict: Any
    fill_form: Any
    refresh_stack: Any
    remember: Any

    def validate(self, editing: tuple[str, ...] = ()) -> Any:
        """The preset as it stands, or None; the status line says what is wrong (preferring the
        field being edited), and the form says how many trainings the scheme implies."""
        from dltui.engine.presets import describe_error
        from dltui.engine.spec import Preset

        self._show_trainings()
        # any change makes a check still running stale: its "ready" must not land after this
        self._checks = getattr(self, "_checks", 0) + 1
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
        if self.data is None:
            error = getattr(self, "data_error", None)
            status.update(f"✗ {error}" if error else "loading the data...")
            status.set_class(bool(error), "bad")
            return None if error else preset
        # `dltui run`'s own checks (memory, splits, the loss against the data) say ready, in
        # a thread: on big data the redundancy check alone takes a while.
        status.update("checking as `dltui run` would...")
        self._preflight(preset, self._checks)
        return preset

    @work(thread=True, exclusive=True, group="preflight")
    def _preflight(self, preset: Any, generation: int) -> None:
        from dltui.engine.errors import InputError
        from dltui.engine.preflight import prepare

        base = self.source_path.parent if self.source_path else None
        try:
            prepare(preset, base, data=self.data)
            problem = None
        except InputError as err:
            problem = str(err)
        except Exception as err:  # e.g. a data file changed under the builder
            problem = f"{type(err).__name__}: {err}"
        from_thread(self, self._preflighted, generation, problem)  # type: ignore[arg-type]

    def _preflighted(self, generation: int, problem: str | None) -> None:
        if generation != self._checks:  # the preset changed since: a newer check follows
            return
        try:
            status = self.query_one("#status", Static)
        except NoMatches:  # the screen is being taken down (the app quits)
            return
        status.set_class(problem is not None, "bad")
        if problem is not None:
            status.update(f"✗ {problem}")
        elif self.app.running() is not None:  # one training at a time
            status.update("ready; a training is running: ctrl+t once it ends (ctrl+r, Enter "
                          "on it, to watch or stop it)")
        else:
            status.update("ready: ctrl+t trains")

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
        self.remember(f"the doctor's fix ({', '.join(f'{k} = {v}' for k, v in finding.fix.items())})")
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

    def action_focus_doctor(self) -> None:
        focus_now(self.query_one("#doctor-panel"))
