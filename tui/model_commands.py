"""The commands that use what a run trained: predict, evaluate, export, report. Each reads the run
folder through the engine (`load_run`, `error_report`) and prints; results on stdout, notes on
stderr."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import completion

RunArg = Annotated[str, typer.Argument(metavar="RUN", help="A run folder, its name, or `latest`.",
                                       autocompletion=completion.runs)]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Where run folders are.")]
MissingOpt = Annotated[str | None, typer.Option(
    "--missing", help="Rows with a missing value: error (refuse the file), skip (no prediction, "
                      "a reason), mean (fill with the training means), zero. Default: the run's "
                      "data.missing rule (drop and error skip such rows).")]
VariantOpt = Annotated[str | None, typer.Option(
    "--variant", help="For a sweep folder: best, vNN (the variant's number) or its label.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="final, ensemble (mean of the fold models), or 'fold N'. Default: the final "
                    "fit if the run has one, else the ensemble.")]


def run_folder(ref: str, runs_dir: Path, variant: str | None = None,
               sweeps: bool = False) -> Path:
    """The run folder a command works on. A sweep folder names its variants unless `sweeps`
    (commands that show sweeps as such) or a --variant picks one."""
    from dltui.engine.errors import InputError
    from dltui.engine.runs.listing import find_run
    from dltui.engine.runs.sweep_folder import is_sweep, variant_run

    path = find_run(runs_dir, ref)
    if path is None:
        where = "no runs yet" if ref == "latest" else f"not a path to one, nor a name in {runs_dir}"
        raise InputError(f"{ref}: no such run folder ({where})")
    if is_sweep(path) and (variant is not None or not sweeps):
        return variant_run(path, variant)
    if variant is not None:
        raise InputError(f"--variant {variant}: {path} is a run, not a sweep")
    return path


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --out file "
                                                       "without asking.")]


def _may_replace(out: Path, force: bool) -> bool:
    """An existing output is replaced with --force, or when the user says yes on a terminal."""
    if force or not out.exists() or out.is_dir() or out.is_symlink():
        return True
    if sys.stdin.isatty() and sys.stderr.isatty():
        return typer.confirm(f"{out} exists; replace it?", default=False, err=True)
    return False


def _note(text: str) -> None:
    typer.echo(f"dltui: {text}", err=True)


def predict(run: RunArg, data: Annotated[Path, typer.Argument(
                help="A CSV with the training columns (the target column may be absent) or an NPZ "
                     "with an array 'x'.")],
            out: Annotated[Path | None, typer.Option("--out", help="Write the CSV here instead "
                                                                   "of stdout.")] = None,
            model: ModelOpt = None, missing: MissingOpt = None, variant: VariantOpt = None,
            force: ForceOpt = False, runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Predict with a trained run: one row per input row, in input order, with the predicted
    class and a probability per class, the value in target units, or the decoded symbol string;
    a row that cannot be predicted keeps its place with a `reason`."""
    from dltui.engine.runs.outputs import check_output, write_output
    from dltui.engine.runs.trained import load_run

    if out is not None:
        check_output(out, [data], _may_replace(out, force))
    trained = load_run(run_folder(run, runs_dir, variant))
    preds = trained.predict(data, model, missing)
    for note in trained.last_notes:
        _note(f"warning: {note}")
    if preds.model == "ensemble" or trained.unfinished:
        _note(trained.models_note(trained.resolve(model)) + ("; --model picks one"
                                                               if preds.model == "ensemble" else ""))
    if preds.skipped:
        _note(f"warning: {len(preds.skipped)} row(s) not predicted (see the reason column)")
    header, rows = preds.columns()
    if out is None:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)

    write_output(out, write)
    _note(f"{len(rows)} prediction(s) written to {out}")


def evaluate(run: RunArg, data: Annotated[Path, typer.Argument(
                 help="Labelled data: a CSV with the target column, or an NPZ with x and y.")],
             model: ModelOpt = None, missing: MissingOpt = None, variant: VariantOpt = None,
             json_: Annotated[bool, typer.Option("--json")] = False,
             runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Score the run's model(s) on new labelled data: the book's test, once, at the end."""
    from rich.console import Console
    from rich.table import Table

    from dltui.engine.runs.trained import load_run

    from .report import fmt

    trained = load_run(run_folder(run, runs_dir, variant))
    result = trained.evaluate(data, model, missing=missing)
    if trained.unfinished:
        _note(trained.models_note(trained.resolve(model)))
    for note in result["notes"]:
        _note(f"warning: {note}")
    if json_:
        from dltui.engine.runs.folder import dumps

        typer.echo(dumps(result))
        return
    keys = list(result["mean"])
    table = Table(title=f"{data}: {result['samples']} samples", title_justify="left")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    for row in result["models"]:
        table.add_row(row["model"], *(fmt(row[k]) for k in keys))
    if len(result["models"]) > 1:
        table.add_row("mean", *(fmt(result["mean"][k]) for k in keys), end_section=False)
        table.add_row("std", *(fmt(result["std"][k]) for k in keys))
    if result.get("ensemble"):
        table.add_row("ensemble", *(fmt(result["ensemble"].get(k)) for k in keys))
    Console(width=max(80, Console().width)).print(table)


def export(run: RunArg,
           format_: Annotated[str, typer.Option("--format", help="pt2 (torch.export, default), "
                                                "torchscript, onnx, or tensorboard (the curves).")]
           = "pt2",
           out: Annotated[Path | None, typer.Option("--out", help="The file (or, for tensorboard, "
                                                                  "the folder) to write.")] = None,
           model: ModelOpt = None, variant: VariantOpt = None, force: ForceOpt = False,
           opset: Annotated[int | None, typer.Option(
               "--opset", min=7, max=30, help="ONNX operator set (default: the exporter's, 18 "
                                              "with torch 2.13).")] = None,
           verbose: Annotated[bool, typer.Option(
               "--verbose", help="Show the exporters' progress and warnings (on stderr).")] = False,
           runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Write a self-contained model file that runs without dltui (normalisation inside), or the
    run's curves as TensorBoard event files."""
    from dltui.engine.errors import InputError
    from dltui.engine.runs.export import FORMATS

    if format_ not in FORMATS:
        raise InputError(f"--format {format_}: allowed: {', '.join(FORMATS)}")
    suffix = {"pt2": ".pt2", "torchscript": ".torchscript.pt", "onnx": ".onnx"}
    if format_ == "tensorboard":  # a whole sweep, its variants compared in HParams
        from dltui.engine.runs.sweep_folder import is_sweep
        from dltui.engine.runs.tensorboard import export_tensorboard

        path = run_folder(run, runs_dir, variant, sweeps=True)
        target = export_tensorboard(path, out or path / "tensorboard",
                                    sweep=is_sweep(path) and variant is None)
        typer.echo(str(target))
        _note(f"see it with: tensorboard --logdir {target}")
        return
    run_dir = run_folder(run, runs_dir, variant)
    from dltui.engine.runs.export import export as write
    from dltui.engine.runs.outputs import check_output, write_output
    from dltui.engine.runs.trained import load_run

    trained = load_run(run_dir)
    names = trained.resolve(model)
    if len(names) > 1:
        raise InputError(f"--model {model or 'ensemble'}: export writes one model; pick "
                         "--model final or --model 'fold N'")
    target = out or run_dir / f"model-{names[0]}{suffix[format_]}"
    check_output(target, [], out is None or _may_replace(target, force))
    if opset is not None and format_ != "onnx":
        raise InputError(f"--opset {opset}: only --format onnx has an operator set")
    write_output(target, lambda tmp: write(trained, format_, tmp, names[0], opset, verbose))
    typer.echo(str(target))
    from dltui.engine.runs.export import missing_rule

    rule = missing_rule(trained)
    gaps = ("a missing value is filled with the training mean" if rule == "mean" else
            "a missing value becomes 0" if rule == "zero" else
            f"a missing value gives NaN outputs (the run's data.missing = '{rule}')")
    _note(f"input: float32 features {tuple(trained.input_shape)} per sample (normalisation is "
          f"inside; {gaps}); output: "
          f"{'probabilities' if trained.task in ('binary', 'multiclass') else 'values'}")


def report(run: RunArg, json_: Annotated[bool, typer.Option("--json")] = False,
           worst: Annotated[int, typer.Option(help="How many of the worst samples to list.")] = 10,
           variant: VariantOpt = None, runs_dir: RunsDirOpt = Path("runs")) -> None:
    """Look at the errors on validation data: confusion matrix, per-class precision/recall and
    the most confidently wrong samples; for regression the largest errors and a scatter."""
    from rich.console import Console

    from dltui.engine.runs.error_report import error_report

    from .error_tables import render_report

    result = error_report(run_folder(run, runs_dir, variant), worst)
    if json_:
        typer.echo(json.dumps(result))
        return
    Console(width=max(80, Console().width)).print(render_report(result))


def check(preset: Annotated[str, typer.Argument(help="A preset file or a shipped preset's name.")],
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a value.")] = None,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The model doctor: the book's rules for this preset and its data, grouped by severity.
    Exit 0 when there is no error, 1 when there is."""
    from dltui.engine import load_preset
    from dltui.engine.doctor.examine import SEVERITIES
    from dltui.engine.doctor.verdict import verdict

    spec, path = load_preset(preset, set_)
    findings = verdict(spec, path.parent)
    if json_:
        typer.echo(json.dumps([f.to_dict() for f in findings]))
    else:
        if not findings:
            typer.echo(f"{spec.name}: no findings")
        for severity in SEVERITIES:
            group = [f for f in findings if f.severity == severity]
            if group:
                typer.echo(f"{severity}s ({len(group)}):")
            for f in group:
                fix = ", ".join(f"{k} = {json.dumps(v)}" for k, v in f.fix.items())
                typer.echo(f"  [{f.id}] {f.where}: {f.message}")
                typer.echo(f"      why: {f.why}")
                if fix:
                    typer.echo(f"      fix: {fix}")
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)
