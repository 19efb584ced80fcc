"""Tables (CSV, Parquet, Feather/Arrow IPC) read into columns: CSV through the typed and text
passes (strict about field counts), Parquet and Feather with pyarrow's own readers. What each
cell means is decided by the column rules (`columns.py`), not here."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from .typed_pass import chunkless, is_number_type, read_strings, typed_columns


@dataclass
class Table:
    path: Path
    header: list[str]
    cells: dict[str, Any]  # column name -> pyarrow array: numbers, or text with whitespace trimmed
    parsed: dict[str, Any] = field(default_factory=dict)  # column name -> _Parsed, once each
    clean: dict[str, Any] = field(default_factory=dict)  # column name -> _Blocks | None, once each
    skip_rows: int = 1
    texts: dict[str, Any] = field(default_factory=dict)  # a numeric column's cells as written
    is_csv: bool = True  # Parquet/Feather tables have rows, not lines
    approximate: set[str] = field(default_factory=set)  # text columns whose markers read as ""

    def place(self, row: int) -> str:
        """Where data row `row` is, in the words the file's format uses."""
        return f"line {self.line_of(row)}" if self.is_csv else f"row {row + 1}"

    def __len__(self) -> int:
        return len(next(iter(self.cells.values()))) if self.cells else 0

    def line_of(self, row: int) -> int:
        """The file line of data row `row` (blank lines and quoted newlines counted); computed
        only when an error needs it."""
        with self.path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            seen = -2  # the header is row -1
            for record in reader:
                if any(cell.strip() for cell in record):
                    seen += 1
                    if seen == row:
                        return reader.line_num
        return row + 2

    def strings(self, name: str) -> np.ndarray:
        import pyarrow as pa

        col = self.cells[name]
        if not pa.types.is_string(col.type) or name in self.approximate:  # quote the file
            if not self.is_csv:
                return np.asarray(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
            if name not in self.texts:
                self.texts[name] = read_strings(self.path, self.header, self.skip_rows,
                                                 [name])[name]
            col = self.texts[name]
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def read_table(path: Path) -> Table:
    """One typed pass (numeric columns straight to numbers), then the columns that are not
    plainly numeric read again as text by pyarrow, where the data rules decide what each cell
    means."""

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next((r for r in csv.reader(fh) if any(c.strip() for c in r)), None)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: cannot read as CSV: {err}") from None
    if header is None:
        raise InputError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in header]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputError(f"{path}: the header repeats column name(s) {', '.join(map(repr, repeated))}; "
                         "give every column its own name")
    if "" in header:
        raise InputError(f"{path}: column {header.index('') + 1} of the header has no name")
    skip = _header_skip(path)
    cells, approximate = typed_columns(path, header, skip)
    numeric = {h for h, c in cells.items() if is_number_type(c.type)}
    # Numeric columns stay in pyarrow's blocks (a copy of every column saved); text columns are
    # made whole, as their rules index them by row.
    table = Table(path, header, {h: cells[h] if h in numeric else chunkless(cells[h])
                                 for h in header}, skip_rows=skip, approximate=approximate)
    if len(table) == 0:
        raise InputError(f"{path}: needs a header row and at least one data row")
    return table


TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".feather": "feather",
                  ".arrow": "feather", ".ipc": "feather"}


def read_any(path: Path) -> Table:
    """A table by its file's kind (CSV unless the suffix says Parquet or Feather/Arrow)."""
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    return read_columnar(path, kind) if kind else read_table(path)


def read_columnar(path: Path, kind: str) -> Table:
    """A Parquet or Feather/Arrow IPC file: columns arrive typed; text-like columns (strings,
    booleans, dates, dictionary-encoded categories) become text for the same data rules."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            arrow = pq.read_table(path)
        else:
            import pyarrow.feather as pf

            arrow = pf.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: cannot read as {kind}: {str(err).splitlines()[0]}") from None
    header = [str(n).strip() for n in arrow.column_names]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated or "" in header:
        raise InputError(f"{path}: column names must be unique and non-empty (found "
                         f"{', '.join(map(repr, repeated or ['']))})")
    if arrow.num_rows == 0:
        raise InputError(f"{path}: has no rows")
    cells: dict[str, Any] = {}
    for name, col in zip(header, arrow.columns, strict=True):
        col = col.combine_chunks()
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.dictionary_decode(), t.value_type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            cells[name] = col
        elif pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            raise InputError(f"{path}: column '{name}' holds {t} values, which cannot be a "
                             "feature or a target; add it to data.drop")
        else:  # a null cell is a missing value, as an empty CSV cell is
            text = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
            cells[name] = pc.fill_null(text, "")
    return Table(path, header, cells, is_csv=False)


def _header_skip(path: Path) -> int:
    """Lines before and including the header (blank lines above it are skipped too)."""
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                return n
    return 1
