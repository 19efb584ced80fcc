"""`dltui init DATA --target COL`: a first preset from the data alone, with the book's reason
for each choice printed (and kept as comments at the top of the file)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Annotated

import typer

KINDS = {".csv": "csv", ".parquet": "parquet", ".feather": "feather", ".npz": "npz"}


def data_source(data: str) -> str:
    """A command-line data argument as a preset source: builtin:NAME, or KIND:/absolute/path."""
    from dltui.engine.errors import InputError

    if ":" in data and not Path(data).exists():
        return data
    kind = KINDS.get(Path(data).suffix.lower())
    if kind is None:
        raise InputError(f"{data}: a data file ends in {', '.join(KINDS)} (or use builtin:NAME)")
    return f"{kind}:{Path(data).absolute()}"


def init(data: Annotated[str, typer.Argument(help="A CSV, Parquet, Feather or NPZ file, or "
                                                  "builtin:NAME.")],
         target: Annotated[str | None, typer.Option("--target", help="The column to predict "
                                                    "(tables).")] = None,
         out: Annotated[Path | None, typer.Option("--out", help="The preset file to write "
                                                  "(default: the data's name, .toml).")] = None,
         time_ordered: Annotated[bool, typer.Option(
             "--time-ordered", help="The rows are in time order: never shuffle, validate on "
                                    "what comes later.")] = False,
         force: Annotated[bool, typer.Option("--force", help="Replace an existing preset file.")]
         = False) -> None:
    """Write a first preset for DATA: task, last layer and loss, metric, normalisation, the
    evaluation protocol and a small network, each chosen by the book's rule (printed)."""
    import tomli_w

    from dltui.engine.doctor.starter import starter
    from dltui.engine.errors import InputError

    source = data_source(data)
    target_file = out or Path(f"{Path(source.partition(':')[2]).stem}.toml")
    if target_file.exists() and not force:
        raise InputError(f"--out {target_file}: exists; --force replaces it")
    preset, choices = starter(source, target, Path.cwd(), time_ordered, target_file.stem)
    raw = preset.model_dump(mode="json", exclude_defaults=True, exclude={"sweep"})
    raw["model"]["layers"] = [{"type": layer.type, **dumped}  # type: ignore[attr-defined]
                              for layer, dumped in zip(preset.model.layers, raw["model"]["layers"],
                                                       strict=True)]
    t, v = preset.train, preset.validation  # the settings a learner turns next, spelt out
    raw["train"].update(optimizer=t.optimizer, learning_rate=t.learning_rate, epochs=t.epochs,
                        batch_size=t.batch_size)
    raw["validation"] = {"scheme": v.scheme, **raw.get("validation", {})}
    kind, _, ref = source.partition(":")
    if kind != "builtin":  # relative to the preset's folder, as presets resolve their data
        raw["data"]["source"] = f"{kind}:{os.path.relpath(ref, target_file.absolute().parent)}"
    header = ["# Written by `dltui init`; each choice and the book's reason for it:"]
    for c in choices:
        header += textwrap.wrap(f"{c.key} = {c.value}: {c.why}", 96,
                                initial_indent="#   ", subsequent_indent="#     ")
    target_file.write_text("\n".join(header) + "\n\n" + tomli_w.dumps(raw), encoding="utf-8")
    for c in choices:
        typer.echo(f"{c.key} = {c.value}")
        typer.echo(textwrap.fill(c.why, 96, initial_indent="    ", subsequent_indent="    "))
    typer.echo(f"wrote {target_file}; the doctor found nothing to fix. Next: dltui run "
               f"{target_file} (or dltui open {target_file})")
