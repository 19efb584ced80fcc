"""The CSV reader's passes over the file: one fast typed pass that takes plainly numeric columns
straight to numbers, and a text pass (every cell kept as written) for the columns the data rules
must look at cell by cell. Both are strict about field counts, naming the line that is wrong."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ...errors import InputError
from .schema import MISSING_MARKERS

# pyarrow's CSV block: 16 MB blocks measured faster than its 1 MB default on a first read (0.49 s
# vs 0.84 s for 185 MB on 2 cores), the same after.
BLOCK_BYTES = 1 << 24
PANDAS_BYTES = 32 << 20  # CSV files from this size take their typed pass through pandas


def _marker_spellings() -> list[str]:
    """The missing markers as people write them, for pyarrow's typed read. A spelling not listed
    (say 'nOne') only sends its column down the text path, which applies the full rule."""
    out = set()
    for m in MISSING_MARKERS:
        out |= {m, m.upper(), m.title(), m.capitalize()}
    return sorted(out | {"NaN", "-nan", "+nan", "-NaN", "+NaN"})


def typed_columns(path: Path, header: list[str], skip: int) -> tuple[dict[str, Any], set[str]]:
    """Every column of a CSV file: the plainly numeric ones typed as numbers by one fast pass
    (pandas' C reader for big files, else pyarrow's), the rest as text, whitespace trimmed; and
    the text columns whose missing markers read as "" (their exact cells are read again only if
    a message or a text target needs them)."""
    cells, approximate = None, set()
    if path.stat().st_size >= PANDAS_BYTES:
        cells, approximate = _typed_by_pandas(path, header, skip)
    if cells is not None:
        cells = _with_text(path, header, skip, cells)
        if len({len(c) for c in cells.values()}) > 1:  # the two readers saw different rows
            cells = None
    if cells is None:
        cells, approximate = _with_text(path, header, skip, _typed_by_pyarrow(path, header, skip)), set()
    return cells, approximate


def is_number_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _with_text(path: Path, header: list[str], skip: int, typed: dict[str, Any]) -> dict[str, Any]:
    """The typed columns, with every column the typed pass could not take read again as text."""
    import pyarrow as pa

    cells = {h: c for h, c in typed.items()
             if c is not None and (is_number_type(c.type) or pa.types.is_string(c.type))}
    text = [h for h in header if h not in cells]
    if text:
        cells.update(read_strings(path, header, skip, text))
    return {h: cells[h] for h in header}


def _typed_by_pyarrow(path: Path, header: list[str], skip: int) -> dict[str, Any]:
    """Header name -> the column as pyarrow typed it, or None for every column when a field
    count is wrong or a later block contradicts the first block's types."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    keys = [f"c{i}" for i in range(len(header))]
    try:
        typed = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=keys, skip_rows=skip, block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                null_values=_marker_spellings(), strings_can_be_null=False,
                quoted_strings_can_be_null=False, true_values=[], false_values=[]))
        out = {h: typed.column(k) for h, k in zip(header, keys, strict=True)}
        # Text columns as the text pass would give them (every cell as written, trimmed): no
        # second read of the file for them.
        return {h: pc.utf8_trim_whitespace(c) if pa.types.is_string(c.type) else c
                for h, c in out.items()}
    except (pa.ArrowInvalid, OSError):
        # A junk cell deep in a numeric column, or a wrong field count: the text read finds out
        # which.
        return dict.fromkeys(header)


def _typed_by_pandas(path: Path, header: list[str], skip: int
                     ) -> tuple[dict[str, Any] | None, set[str]]:
    """The typed pass by pandas' C reader (big files: it read 185 MB in a steady 0.43 s here
    where pyarrow's took 0.45-0.95 s on 2 shared cores; its import, 0.3 s, pays off from tens of
    MB). Numeric columns as pyarrow arrays (no copy); a column pandas kept wholly as text as a
    pyarrow text column, trimmed, its missing markers as "" (named in the returned set), which
    saves reading the file a second time for it; other columns None (the text pass reads them).
    None when the field counts cannot be vouched for: pandas pads a short row with missing
    values silently, so a missing value in the last column sends the file to pyarrow's strict
    reader, as does a long row (an error, or for the first row an index column)."""
    import warnings

    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [f"c{i}" for i in range(len(header))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed columns are text
            frame = pd.read_csv(path, header=None, names=keys, skiprows=skip,
                                keep_default_na=False, na_values=_marker_spellings(),
                                encoding="utf-8-sig", skip_blank_lines=True)
    except (ValueError, pd.errors.ParserWarning, OSError):  # ParserError, UnicodeDecodeError
        return None, set()
    # A first row longer than the header becomes an index (pandas' reading of a trailing
    # comma): the default index says every row had the header's field count or fewer.
    if not isinstance(frame.index, pd.RangeIndex) or len(frame) == 0:
        return None, set()
    if frame[keys[-1]].isna().any():  # a short row, or a missing value: the strict reader decides
        return None, set()
    cells: dict[str, Any] = {}
    approximate = set()
    for name, key in zip(header, keys, strict=True):
        if isinstance(frame[key].dtype, pd.StringDtype):
            # pandas 3 keeps a column it read wholly as text in arrow already: taken as it is
            # (a round trip through Python objects took 0.1 s per million cells).
            text = pa.array(frame[key]).cast(pa.string())
            if text.null_count:
                approximate.add(name)
                text = pc.fill_null(text, "")
            cells[name] = pc.utf8_trim_whitespace(text)
            continue
        values = frame[key].to_numpy()
        if values.dtype.kind in "iuf":
            cells[name] = pa.array(values)
        elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "string":
            # Every cell text as written (a chunk pandas parsed as numbers would show as
            # "mixed" and take the text pass, so "01" stays "01").
            text = pa.array(values, type=pa.string(), from_pandas=True)
            if text.null_count:
                approximate.add(name)
                text = pc.fill_null(text, "")
            cells[name] = pc.utf8_trim_whitespace(text)
        else:
            cells[name] = None
    return cells, approximate


def chunkless(col: Any) -> Any:
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def read_strings(path: Path, header: list[str], skip: int, names: list[str]) -> dict[str, Any]:
    """Columns `names` as text, whitespace trimmed, every cell kept as written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    keys = [f"c{i}" for i in range(len(header))]
    wanted = [keys[header.index(n)] for n in names]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=keys, skip_rows=skip, block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, column_types=dict.fromkeys(wanted, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: {parse_problem(path, len(header), err)}") from None
    return {n: pc.utf8_trim_whitespace(table.column(k)) for n, k in zip(names, wanted, strict=True)}


def parse_problem(path: Path, width: int, err: Exception) -> str:
    """pyarrow names no line; find the first record with the wrong field count to name it."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for record in reader:
                if any(c.strip() for c in record) and len(record) != width:
                    return f"line {reader.line_num} has {len(record)} fields, the header has {width}"
    except (UnicodeDecodeError, csv.Error) as scan_err:
        return f"cannot read as CSV: {scan_err}"
    return f"cannot read as CSV: {str(err).splitlines()[0]}"
