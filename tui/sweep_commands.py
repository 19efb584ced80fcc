"""`dltui sweep`: plan the variants (each validated before anything trains), show the cost, train
them (here, in worker processes per GPU, or on a Ray cluster), print the ranked table."""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from dltui.engine.events import (
    EpochEnded,
    Event,
    FoldEnded,
    Notice,
    SweepEnded,
    SweepStarted,
    VariantEnded,
    VariantStarted,
)

from . import completion, exit_codes


def ranking_table(table: dict[str, Any], ascii_only: bool = False) -> Any:
    from rich import box
    from rich.table import Table

    from .report import fmt

    metric = table.get("metric", "loss")
    out = Table(title=f"sweep of {table.get('preset')}: ranked by val {metric} (mean over folds)",
                title_justify="left", box=box.ASCII if ascii_only else box.SIMPLE_HEAD)
    for col in ("rank", "variant", "changed", f"val {metric}", "± std", "best epoch",
                "val loss min @", "seconds", "status"):
        out.add_column(col, justify="left" if col in ("changed", "status") else "right",
                       min_width=18 if col == "changed" else None)
    for rank, row in enumerate(table.get("ranking", []), start=1):
        scored = row.get("mean") is not None
        out.add_row(str(rank) if scored else "-", f"v{row['index']:02d}", row["label"],
                    fmt(row.get("mean")), fmt(row.get("std")), str(row.get("best_epoch") or ""),
                    fmt(row.get("val_loss_min_epoch")), fmt(row.get("seconds")),
                    row["status"] + ("  best" if rank == 1 and scored else ""))
    return out


class SweepPrinter:
    """Progress on stderr as lines (one per variant, fold and estimate), the table on stdout."""

    def __init__(self, err: TextIO | None = None, out: TextIO | None = None, as_json: bool = False) -> None:
        self.err, self.out, self.json = err or sys.stderr, out or sys.stdout, as_json
        self.started = time.perf_counter()
        self.total_epochs = 0
        self.epochs_done = 0
        self.estimated = False

    def __call__(self, event: Event, variant: int | None = None) -> None:
        if self.json:
            from dltui.engine.runs.folder import dumps

            data = event.to_dict()
            if variant is not None:
                data["variant"] = variant
            self.out.write(dumps(data) + "\n")
            self.out.flush()
            return
        text = ""
        if isinstance(event, SweepStarted):
            self.total_epochs = event.trainings * event.epochs
            text = (f"sweep {event.sweep_dir}\n{event.variants} variant(s) of {event.preset} "
                    f"({event.mode}{', pruned by successive halving' if event.prune else ''}): "
                    f"{event.trainings} training(s) x {event.epochs} epochs in all")
        elif isinstance(event, VariantStarted):
            text = f"[v{event.index:02d}] {event.label}"
        elif isinstance(event, VariantEnded):
            from .report import fmt

            score = f"val {event.metric} {fmt(event.mean)} ± {fmt(event.std)}, best epoch " \
                    f"{event.best_epoch}" if event.mean is not None else ""
            text = f"[v{event.index:02d}] {event.status}{': ' + score if score else ''} " \
                   f"({event.seconds:.1f} s)"
        elif isinstance(event, Notice) and event.level == "warning" and variant is not None:
            text = f"[v{variant:02d}] warning: {event.message}"
        elif isinstance(event, EpochEnded) and event.fold >= 0:
            self.epochs_done += 1
            if self.epochs_done == 1:  # start-up (imports, data, first batches) is not per epoch
                self.started = time.perf_counter()
            if not self.estimated and self.epochs_done >= 20 and self.total_epochs:
                self.estimated = True
                spent = time.perf_counter() - self.started
                left = spent / (self.epochs_done - 1) * (self.total_epochs - self.epochs_done)
                if left >= 2:  # a sweep that ends sooner needs no estimate
                    text = f"estimate from the first epochs: about {left:.0f} s more"
        elif isinstance(event, FoldEnded) and event.fold >= 0 and variant is not None:
            text = f"[v{variant:02d} r{event.repeat} f{event.fold}] best epoch {event.best_epoch}"
        elif isinstance(event, SweepEnded):
            from rich.console import Console

            console = Console(file=self.out, width=max(140, Console().width))
            console.print(ranking_table(event.table, ascii_only=not self.out.isatty()))
            text = f"sweep {event.status} in {event.seconds:.1f} s"
        if text:
            self.err.write(text + "\n")
            self.err.flush()


def sweep(preset: Annotated[str, typer.Argument(help="A preset file or a shipped preset's name.",
                                                autocompletion=completion.presets)],
          vary: Annotated[list[str] | None, typer.Option(
              "--vary", help="KEY=V1,V2,... to try, e.g. --vary model.layers[0].units=4,16,64 "
                             "(repeatable; adds to the preset's [sweep] table).")] = None,
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base value.")] = None,
          mode: Annotated[str | None, typer.Option(help="grid (every combination) or random.")] = None,
          samples: Annotated[int | None, typer.Option(help="How many random variants.")] = None,
          prune: Annotated[bool | None, typer.Option(
              "--prune/--no-prune", help="Stop hopeless variants early (successive halving).")] = None,
          backend: Annotated[str, typer.Option(help="local or ray.")] = "local",
          address: Annotated[str | None, typer.Option(help="A Ray cluster's address (ray).")] = None,
          devices: Annotated[str | None, typer.Option(
              help="Spread variants over local devices, one worker process each: cuda:0,cuda:1, "
                   "auto (every visible GPU) or e.g. cpu,cpu.")] = None,
          device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
          yes: Annotated[bool, typer.Option("--yes", help="Allow a sweep of more than 1,000 "
                                                          "variants.")] = False,
          json_: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
          runs_dir: Annotated[Path, typer.Option("--runs-dir")] = Path("runs")) -> None:
    """Train every variant of a preset with its validation scheme and rank them: the book's
    comparison of smaller and bigger networks, dropout and L2, in one command."""
    from dltui.engine.errors import InputError
    from dltui.engine.events import StopToken
    from dltui.engine.presets import apply_override, find_preset, parse_toml, read_preset_text
    from dltui.engine.sweeps.plan import MAX_VARIANTS, parse_vary, plan_sweep
    from dltui.engine.sweeps.runner import SweepRunner

    from .options import check_device

    check_device(device)
    if backend not in ("local", "ray"):
        raise InputError(f"--backend {backend}: allowed: local, ray")
    path = find_preset(preset)
    raw = parse_toml(read_preset_text(path), str(path))
    raw.setdefault("name", path.stem)
    for item in set_ or []:
        apply_override(raw, item)
    plan = plan_sweep(raw, str(path), parse_vary(vary or []), mode, samples, prune,
                      max_variants=math.inf if yes else MAX_VARIANTS)
    printer = SweepPrinter(as_json=json_)
    stop = StopToken()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.requested:
            os._exit(exit_codes.INTERRUPTED)
        stop.request()
        sys.stderr.write("\nstopping the sweep after the current batch (Ctrl+C again quits now)\n")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    args = (plan, runs_dir, path.parent, device, printer, stop)
    inner = lambda v, e: printer(e, v.index)  # noqa: E731
    remote = _backend(backend, address, devices)
    if remote is None:
        runner = SweepRunner(*args, inner=inner)
    else:
        from dltui.engine.sweeps.remote import RemoteSweep

        runner = RemoteSweep(*args, inner=inner, backend=remote, when_gone=_cluster_gone)
    try:
        result = runner.run()
    finally:
        if remote is not None:
            remote.close()
    if result["status"] == "stopped":
        raise typer.Exit(exit_codes.INTERRUPTED)
    if not result.get("best"):
        typer.echo("dltui: no variant finished", err=True)
        raise typer.Exit(exit_codes.TRAINING_FAILED)


def _cluster_gone(gone: str, result: dict[str, Any]) -> None:
    kept = sum(1 for r in result["ranking"] if r["status"] == "done")
    _quit_without_ray(f"dltui: sweep failed: {gone}; {kept} of {len(result['ranking'])} "
                      f"variants had finished and are kept in {result['dir']}")


def _quit_without_ray(message: str) -> None:
    """One line, then out: Ray's exit handlers would wait on the dead cluster and its C++ client
    would print its reconnection attempts, so nothing of Ray's runs after this."""
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os._exit(exit_codes.TRAINING_FAILED)


def _backend(backend: str, address: str | None, devices: str | None) -> Any:
    if backend == "ray":
        from dltui.engine.sweeps.ray_backend import RayBackend

        return RayBackend(address)
    if devices:
        import torch

        from dltui.engine.errors import InputError
        from dltui.engine.sweeps.remote import ProcessBackend

        names = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if devices == "auto" \
            else [d.strip() for d in devices.split(",") if d.strip()]
        if not names:
            raise InputError("--devices auto: torch sees no CUDA device; name devices, e.g. cpu,cpu")
        from dltui.engine.train.device import resolve_device

        for name in names:
            try:
                resolve_device(name)
            except InputError as err:
                raise InputError(f"--devices {devices}: {err}") from None
        return ProcessBackend(names)
    return None
