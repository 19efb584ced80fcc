"""The `dltui` command. Each command parses, calls the engine, prints. torch and textual are
imported inside the commands that need them, so `dltui --help` stays fast."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import completion, exit_codes, model_commands, sweep_commands
from .dataset_commands import datasets_app
from .init_command import init
from .options import check_device
from .startup import collector_paused, freeze_at_exit
from .workflow_command import workflow

app = typer.Typer(add_completion=True, rich_markup_mode=None,
                  help="Build, train and watch deep-learning models in the terminal.")

PresetArg = Annotated[str, typer.Argument(help="A preset file, or the name of a shipped preset "
                                               "(see `dltui presets`).",
                                          autocompletion=completion.presets)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a preset value, e.g. --set train.epochs=5 (repeatable).")]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Where run folders go.")]


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context) -> None:
    """With no command: open the app on a terminal, print this help elsewhere."""
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdin.isatty() and sys.stdout.isatty():
        _open_app(None, Path("runs"))
    else:
        typer.echo(ctx.get_help())


def fail(message: str, code: int = exit_codes.BAD_INPUT) -> typer.Exit:
    typer.echo(f"dltui: error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def run(preset: PresetArg, set_: SetOpt = None,
        device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
        json_: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
        runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Train a preset headless; results go to a run folder."""
    with collector_paused():
        from dltui.engine import load_preset, prepare

        check_device(device)
        spec, path = load_preset(preset, set_)
        prep = prepare(spec, path.parent, device)
    train_headless(prep, runs_dir, json_)


def train_headless(prep: Any, runs_dir: Path, json_: bool, resume_dir: Path | None = None,
                   force: bool = False) -> None:
    """Train with Ctrl+C/SIGTERM stopping cleanly and the right printer for where output goes."""
    from dltui.engine import EventBus, Experiment, StopToken

    from .printer import JsonPrinter, PlainPrinter, RichPrinter

    stop = StopToken()
    exit_code = {"code": exit_codes.OK}

    def on_signal(signum: int, _frame: Any) -> None:
        code = exit_codes.INTERRUPTED if signum == signal.SIGINT else exit_codes.TERMINATED
        if stop.requested:  # a second signal: leave at once, files are consistent between lines
            os._exit(code)
        exit_code["code"] = code
        stop.request()
        sys.stderr.write("\nstopping after the current batch (press Ctrl+C again to quit now)\n")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    bus = EventBus()
    fancy = sys.stderr.isatty() and not os.environ.get("CI") and not json_
    printer = JsonPrinter() if json_ else RichPrinter() if fancy else PlainPrinter()
    bus.subscribe(printer)
    try:
        summary = Experiment(prep, runs_dir, bus, stop, resume_dir, force=force).run()
    finally:
        printer.close()
    if summary["status"] == "stopped":
        raise typer.Exit(exit_code["code"] or exit_codes.INTERRUPTED)
    if summary["status"] != "done":
        typer.echo(f"dltui: training {summary['status']}: {summary['message']}", err=True)
        raise typer.Exit(exit_codes.TRAINING_FAILED)


@app.command()
def resume(run_ref: Annotated[str, typer.Argument(metavar="RUN", autocompletion=completion.runs,
                                                  help="A run folder, its name, "
                                                                      "or `latest`.")],
           device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
           json_: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
           force: Annotated[bool, typer.Option(
               "--force", help="Resume even though the data changed since the run started.")] = False,
           runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Continue a stopped, killed or failed run in its own folder from its last checkpoint."""
    from dltui.engine import load_preset, prepare
    check_device(device)
    from dltui.engine.runs.listing import find_run
    from dltui.engine.sweeps.workflow import is_workflow

    found = next((p for p in (Path(run_ref), runs_dir / run_ref) if is_workflow(p)), None) \
        or find_run(runs_dir, run_ref)
    if found is not None and is_workflow(found):
        from .workflow_command import resume_workflow

        resume_workflow(found, device)
        return
    path = model_commands.run_folder(run_ref, runs_dir)
    with collector_paused():
        spec, preset_path = load_preset(path / "preset.toml")
        prep = prepare(spec, preset_path.parent, device)
    train_headless(prep, runs_dir, json_, resume_dir=path, force=force)


@app.command()
def summary(preset: PresetArg, set_: SetOpt = None) -> None:
    """Print the model's layers, output shapes and parameter counts (Keras style)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from dltui.engine import load_preset
    from dltui.engine.data.dataset import load_data
    from dltui.engine.model.shapes import infer_shapes, layer_rows

    spec, path = load_preset(preset, set_)
    data = load_data(spec.data, path.parent)
    infer_shapes(spec.model.layers, data.input_shape)  # bad shapes: the one-line error
    rows = layer_rows(spec.model.layers, data.input_shape)
    table = Table(title=f"{spec.name}: input {data.input_shape}", box=box.SIMPLE_HEAD,
                  title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    for r in rows:
        table.add_row(str(r.index), r.label, str((None, *(r.out_shape or ()))), f"{r.params:,}")
    total, frozen = sum(r.params for r in rows), sum(r.frozen for r in rows)
    console = Console(width=max(100, Console().width))
    console.print(table)
    console.print(f"Total params: {total:,}\nTrainable params: {total - frozen:,}\n"
                  f"Non-trainable params: {frozen:,}")


@app.command()
def presets() -> None:
    """List the shipped presets with their descriptions."""
    import tomllib

    for name, path in sorted(completion.shipped().items()):  # no torch: listing is instant
        description = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        typer.echo(f"{name:28} {description}")


@app.command()
def runs(runs_dir: RunsDirOpt = Path("runs")) -> None:
    """List past runs, newest first."""
    from dltui.engine.runs.listing import list_runs

    found = list_runs(runs_dir)
    if not found:
        typer.echo(f"no runs in {runs_dir}")
    for r in found:
        typer.echo(f"{r.path.name:44} {r.scheme:15} {r.status:10} {r.best}")


@app.command()
def watch(run_ref: Annotated[str, typer.Argument(metavar="RUN", help="A run folder or `latest`.",
                                                 autocompletion=completion.runs)]
          = "latest",
          runs_dir: RunsDirOpt = Path("runs"),
          plain: Annotated[bool, typer.Option(help="Print epochs as lines, not the live view.")]
          = False) -> None:
    """Follow a run that another process is writing (or replay a finished one): the live view on
    a terminal, lines when piped or with --plain."""
    import time

    from dltui.engine.sweeps.workflow import is_workflow

    flow = next((p for p in (Path(run_ref), runs_dir / run_ref) if is_workflow(p)), None)
    if flow is not None:
        from .workflow_command import watch_workflow

        if plain or not sys.stdout.isatty():
            watch_workflow(flow)
        else:
            _open_app(None, runs_dir, workflow_dir=flow)
        return
    path = model_commands.run_folder(run_ref, runs_dir, sweeps=True)
    if (path / "sweep.jsonl").exists():
        watch_sweep(path, plain or not sys.stdout.isatty(), runs_dir)
        return
    if not plain and sys.stdout.isatty():
        _open_app(None, runs_dir, watch_dir=path)
        return

    from dltui.engine.events import RunEnded

    from .printer import PlainPrinter
    from .run_source import FolderRun

    source, printer = FolderRun(path), PlainPrinter(sys.stdout, sys.stdout)
    while True:  # FolderRun ends a run whose writer died with a "killed" RunEnded
        for event in source.poll():
            printer(event)
            if isinstance(event, RunEnded):
                return
        time.sleep(0.2)


def watch_sweep(path: Path, plain: bool, runs_dir: Path) -> None:
    """A sweep: its table and overlaid curves in the app, or its variant lines as they land."""
    import time

    from dltui.engine.events import SweepEnded
    from dltui.engine.runs.folder import EventFollower
    from dltui.engine.runs.sweep_folder import sweep_status

    from .sweep_commands import SweepPrinter

    if not plain:
        _open_app(None, runs_dir, sweep_dir=path)
        return
    follower, printer = EventFollower(path, "sweep.jsonl"), SweepPrinter(sys.stdout, sys.stdout)
    idle = 0.0
    while True:
        events = follower.poll()
        for event in events:
            printer(event)
            if isinstance(event, SweepEnded):
                return
        idle = 0.0 if events else idle + 0.2
        if idle >= 1.0:  # quiet for a second: is anyone still writing it?
            status, why = sweep_status(path)
            if status == "failed":
                typer.echo(f"dltui: sweep failed: {why}; finished variants are kept", err=True)
                raise typer.Exit(exit_codes.TRAINING_FAILED)
            idle = 0.0
        time.sleep(0.2)


@app.command("open")
def open_(preset: PresetArg, set_: SetOpt = None, runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Open the app with a preset loaded (and overridden, like `run`)."""
    from dltui.engine import load_preset

    load_preset(preset, set_)  # a bad preset is the one-line error here, not inside the app
    _open_app(preset, runs_dir, overrides=set_)


@app.command()
def build(runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Open the app on an empty model (what `dltui` alone does)."""
    _open_app(None, runs_dir)


def _open_app(preset: str | None, runs_dir: Path, watch_dir: Path | None = None,
              sweep_dir: Path | None = None, overrides: list[str] | None = None,
              workflow_dir: Path | None = None) -> None:
    from .app import DltuiApp

    DltuiApp(preset=preset, runs_dir=runs_dir, watch_dir=watch_dir, sweep_dir=sweep_dir,
             overrides=overrides, workflow_dir=workflow_dir).run()


app.command()(model_commands.predict)
app.command()(model_commands.evaluate)
app.command()(model_commands.export)
app.command()(model_commands.report)
app.command()(model_commands.check)
app.command()(sweep_commands.sweep)
app.add_typer(datasets_app, name="datasets")
app.command()(init)
app.command()(workflow)


def main() -> None:
    from dltui.engine.errors import InputError, TrainingFailure

    freeze_at_exit()
    try:
        app(standalone_mode=True)
    except InputError as err:
        typer.echo(f"dltui: error: {err}", err=True)
        sys.exit(exit_codes.BAD_INPUT)
    except TrainingFailure as err:  # e.g. the run folder could not be written at all
        typer.echo(f"dltui: training failed: {err}", err=True)
        sys.exit(exit_codes.TRAINING_FAILED)
    except KeyboardInterrupt:
        sys.exit(exit_codes.INTERRUPTED)
