"""The Textual app: a thin shell that wires the screens (build, train, runs, help)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen

from .app_keys import APP_BINDINGS
from .run_source import InAppRun
from .screens.build import BuildScreen
from .screens.help import HelpScreen


class DltuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "dltui"
    BINDINGS = APP_BINDINGS

    def __init__(self, preset: str | None = None, runs_dir: Path = Path("runs"),
                 watch_dir: Path | None = None, sweep_dir: Path | None = None,
                 overrides: list[str] | None = None, workflow_dir: Path | None = None) -> None:
        super().__init__()
        self.overrides = overrides or []
        self.preset_ref, self.runs_dir, self.watch_dir = preset, runs_dir, watch_dir
        self.sweep_dir, self.workflow_dir = sweep_dir, workflow_dir
        self.training: list[InAppRun] = []  # runs started here, stopped cleanly on quit

    def on_mount(self) -> None:
        self.set_interval(1.0, self._headline)
        build = BuildScreen()
        if self.preset_ref:
            from dltui.engine.presets import load_preset

            # the CLI reports a bad preset or override before this
            preset, path = load_preset(self.preset_ref, self.overrides)
            build = BuildScreen.for_preset(preset, path)
        self.push_screen(build)
        if self.watch_dir is not None or self.sweep_dir is not None:
            from .screens.runs import RunsScreen

            self.push_screen(RunsScreen(self.runs_dir))  # where Esc from the watched run goes
        if self.watch_dir is not None:
            from .run_source import FolderRun
            from .screens.train import TrainScreen

            self.push_screen(TrainScreen(FolderRun(self.watch_dir), self.watch_dir.name))
        if self.sweep_dir is not None:
            from .screens.sweep import SweepScreen

            self.push_screen(SweepScreen(self.sweep_dir))
        if self.workflow_dir is not None:
            from .screens.workflow import WorkflowScreen

            self.push_screen(WorkflowScreen(self.workflow_dir))

    async def action_quit(self) -> None:
        """Quitting mid-run asks first; then the run stops after the current batch, so its
        folder says `stopped` (and `dltui resume` can continue it)."""
        from .screens.prompt import ConfirmScreen

        if any(run.can_stop for run in self.training):
            self.push_screen(ConfirmScreen("A training is running. Stop it and quit?"),
                             lambda yes: self._stop_and_exit() if yes else None)
            return
        build = self.build_screen()
        if build is not None and build.dirty and not isinstance(self.screen, ModalScreen):
            self.push_screen(ConfirmScreen("The model or settings have unsaved edits (ctrl+s "
                                           "saves them). Quit without saving?"),
                             lambda yes: self.exit() if yes else None)
            return
        self.exit()

    def _stop_and_exit(self) -> None:
        for run in self.training:
            if run.can_stop:
                run.finish()
        self.exit()

    def _headline(self) -> None:
        """The training this app runs, in the header of every screen (the title line)."""
        run = self.running()
        if (run is None) != (getattr(self, "_live", None) is None):
            build = self.build_screen()  # its status line says whether ctrl+t can train now
            if build is not None and build.is_mounted:
                try:
                    build.validate()
                except NoMatches:  # being taken down (the app quits)
                    pass
        if run is None:
            self._live = None
            self.title = "dltui"
            return
        if getattr(self, "_live", None) is None or self._live[0] is not run:
            from .run_state import RunState

            reader = run.reader() if isinstance(run, InAppRun) else None
            self._live = (run, reader, RunState())
        _, reader, state = self._live
        if reader is None:  # a sweep: its screen has the variants' table
            self.title = f"dltui · sweep {run.dir.name} running"  # type: ignore[attr-defined]
            return
        for event in reader.poll():
            state.apply(event)
        state.stopping = state.stopping or run.stop_requested  # type: ignore[attr-defined]
        self.title = f"dltui · {state.headline(run.name)}"  # type: ignore[attr-defined]

    def running(self) -> object | None:
        """The training this app runs now, if any (one at a time)."""
        return next((run for run in self.training if run.can_stop), None)

    def build_screen(self) -> BuildScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, BuildScreen)), None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): the app's own commands, then Textual's."""
        from dltui.engine.presets import shipped_presets

        from .screens.train import TrainScreen

        build = self.build_screen()
        run = self.running()
        if build is not None:
            yield SystemCommand("Train", "train the model on the build screen",
                                self._on_build(build.action_train))
            yield SystemCommand("Save preset", "save the model and settings as a TOML preset",
                                self._on_build(build.action_save))
            yield SystemCommand("Load preset", "load a preset (a shipped name or a .toml file)",
                                self._on_build(build.action_load))
            for name in sorted(shipped_presets()):
                yield SystemCommand(f"Load preset {name}", "a shipped preset, into the builder",
                                    self._on_build(partial(build.request_load, name)))
        if run is not None:
            yield SystemCommand("Stop training", "stop the run after the current batch",
                                run.stop)  # type: ignore[attr-defined]
        yield SystemCommand("Runs", "the list of runs", self.action_runs)
        yield SystemCommand("Compare runs", "open the runs: Space marks two or more, c compares",
                            self.action_runs)
        if isinstance(screen, TrainScreen):
            yield SystemCommand("Toggle log scale", "logarithmic loss axis",
                                screen.action_log_scale)
            yield SystemCommand("Next fold", "show the next fold's curves", screen.action_next_fold)
        yield SystemCommand("Help", "every key of every screen", self.action_help)
        yield from super().get_system_commands(screen)

    def _on_build(self, action: object) -> object:
        """A builder command from any screen: back to the builder first, then the action."""
        def run() -> None:
            while not isinstance(self.screen, BuildScreen) and len(self.screen_stack) > 1:
                self.pop_screen()
            self.call_after_refresh(action)  # type: ignore[arg-type]
        return run

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_runs(self) -> None:
        from .screens.runs import RunsScreen

        self.push_screen(RunsScreen(self.runs_dir))
