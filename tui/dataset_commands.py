"""`dltui datasets`: the book's data sets, their sizes and whether they are in the cache;
`dltui datasets fetch NAME` downloads one with a progress bar (checked against its SHA-256)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dltui.engine.data.downloads import Progress

datasets_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=False,
                           help="The book's data sets: list them, fetch them ahead of a run.")


@datasets_app.callback(invoke_without_command=True)
def listing(ctx: typer.Context) -> None:
    """List the book's data sets: size, cache state and where each file lives."""
    if ctx.invoked_subcommand is not None:
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from dltui.engine.data import downloads
    from dltui.engine.data.book_sets import ABOUT, FILES

    table = Table(box=box.SIMPLE_HEAD, title_justify="left",
                  title=f"the book's data sets (cache: {downloads.cache_dir()})")
    for column in ("source", "size", "cache", "what"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for name, file in FILES.items():
        table.add_row(f"builtin:{name}", f"{file.size / 1e6:.1f} MB", downloads.state(file),
                      ABOUT[name])
    Console(width=max(110, Console().width)).print(table)
    typer.echo("the bundled sets (breast_cancer, diabetes, digits, iris, wine) and the "
               "generators need no download; see the README's \"The book's data sets\"")


@datasets_app.command()
def fetch(name: Annotated[str, typer.Argument(help="imdb, reuters, boston_housing, mnist or all")]
          ) -> None:
    """Download a data set into the cache now (a run downloads it on first use otherwise)."""
    from dltui.engine.data import downloads
    from dltui.engine.data.book_sets import FILES
    from dltui.engine.errors import InputError

    names = list(FILES) if name == "all" else [name.removeprefix("builtin:")]
    for n in names:
        if n not in FILES:
            raise InputError(f"datasets fetch: unknown data set '{name}' (one of "
                             f"{', '.join(FILES)}, or all)")
    for n in names:
        file = FILES[n]
        if downloads.state(file) == "cached":
            downloads.verified(file)
            typer.echo(f"{n}: already in the cache, hash checked: {downloads.cached_path(file)}")
            continue
        with _progress() as report:
            path = downloads.ensure(file, report)
        typer.echo(f"{n}: {path}")


class _progress:
    """A rich progress bar on a terminal; a line at the start and the end elsewhere."""

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.progress import DownloadColumn, TransferSpeedColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(*Bar.get_default_columns(), DownloadColumn(),
                                TransferSpeedColumn(), transient=False)
            self.bar.start()
            self.task: int | None = None

            def report(name: str, done: int, total: int) -> None:
                if self.task is None:
                    self.task = self.bar.add_task(name, total=total or None)
                self.bar.update(self.task, completed=done)
            return report
        self.bar = None  # type: ignore[assignment]
        from dltui.engine.data.downloads import plain_progress
        return plain_progress

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

