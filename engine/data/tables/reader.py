"""Tables (CSV, Parquet, Feather/Arrow IPC) under one set of data rules: CSV read with pyarrow's
reader (strict about field counts), Parquet and Feather with pyarrow's own readers,
each column settled as numbers or text, and every cell that cannot mean what the user meant
refused with file, column and line. The settled columns are a `TableSchema` that a run folder keeps,
so `predict` encodes new rows exactly as training did."""

from __future__ import annotations

import csv
import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError

# Cells that mean "no value" in a numeric or text feature column. In a text *target* column only an
# empty cell is missing: there 'NA' or 'None' is a class the user wrote, and is kept as one.
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_CATEGORIES = 1000  # one-hot beyond this is an id column, not a category
WARN_CATEGORIES = 100
# pyarrow's CSV block: 16 MB blocks measured faster than its 1 MB default on a first read (0.49 s
# vs 0.84 s for 185 MB on 2 cores), the same after.
BLOCK_BYTES = 1 << 24
PANDAS_BYTES = 32 << 20  # CSV files from this size take their typed pass through pandas
BIG_MATRIX_BYTES = 1 << 24  # from here the feature matrix gets its own mapping
FILL_ROWS = 16384  # rows per block when numeric columns are written into the feature matrix


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "number" | "text"
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    """How the CSV's columns became features; saved with a run so new rows are encoded the same."""

    features: tuple[Column, ...]
    target: str
    target_kind: str
    dropped: tuple[str, ...]
    missing: str

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for c in self.features:
            names += [f"{c.name}={k}" for k in c.categories] if c.kind == "text" else [c.name]
        return names

    def to_dict(self) -> dict[str, Any]:
        return {"features": [{"name": c.name, "kind": c.kind, "categories": list(c.categories)}
                             for c in self.features],
                "target": self.target, "target_kind": self.target_kind,
                "dropped": list(self.dropped), "missing": self.missing}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableSchema:
        cols = tuple(Column(c["name"], c["kind"], tuple(c.get("categories", ()))) for c in d["features"])
        return cls(cols, d["target"], d["target_kind"], tuple(d.get("dropped", ())), d["missing"])


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
        if not pa.types.is_string(col.type):  # read as numbers: error messages quote the file
            if not self.is_csv:
                return np.asarray(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)
            if name not in self.texts:
                self.texts[name] = _read_strings(self.path, self.header, self.skip_rows,
                                                 [name])[name]
            col = self.texts[name]
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


@dataclass
class CsvData:
    x: np.ndarray
    y_raw: np.ndarray | None
    rows: np.ndarray  # data-row index in the file of each sample kept
    schema: TableSchema
    notes: list[str] = field(default_factory=list)


def _marker_spellings() -> list[str]:
    """The missing markers as people write them, for pyarrow's typed read. A spelling not listed
    (say 'nOne') only sends its column down the text path, which applies the full rule."""
    out = set()
    for m in MISSING_MARKERS:
        out |= {m, m.upper(), m.title(), m.capitalize()}
    return sorted(out | {"NaN", "-nan", "+nan", "-NaN", "+NaN"})


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
    cells = _typed_by_pandas(path, header, skip) if path.stat().st_size >= PANDAS_BYTES else None
    if cells is not None:
        cells = _with_text(path, header, skip, cells)
        if len({len(c) for c in cells.values()}) > 1:  # the two readers saw different rows
            cells = None
    if cells is None:
        cells = _with_text(path, header, skip, _typed_by_pyarrow(path, header, skip))
    numeric = {h for h, c in cells.items() if _is_number_type(c.type)}
    # Numeric columns stay in pyarrow's blocks (a copy of every column saved); text columns are
    # made whole, as their rules index them by row.
    table = Table(path, header, {h: cells[h] if h in numeric else _chunkless(cells[h])
                                 for h in header}, skip_rows=skip)
    if len(table) == 0:
        raise InputError(f"{path}: needs a header row and at least one data row")
    return table


def _is_number_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _with_text(path: Path, header: list[str], skip: int, typed: dict[str, Any]) -> dict[str, Any]:
    """The typed columns, with every column not typed as numbers read again as text."""
    cells = {h: c for h, c in typed.items() if c is not None and _is_number_type(c.type)}
    text = [h for h in header if h not in cells]
    if text:
        cells.update(_read_strings(path, header, skip, text))
    return {h: cells[h] for h in header}


def _typed_by_pyarrow(path: Path, header: list[str], skip: int) -> dict[str, Any]:
    """Header name -> the column as pyarrow typed it, or None for every column when a field
    count is wrong or a later block contradicts the first block's types."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    keys = [f"c{i}" for i in range(len(header))]
    try:
        typed = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(column_names=keys, skip_rows=skip, block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                null_values=_marker_spellings(), strings_can_be_null=False,
                quoted_strings_can_be_null=False, true_values=[], false_values=[]))
        return {h: typed.column(k) for h, k in zip(header, keys, strict=True)}
    except (pa.ArrowInvalid, OSError):
        # A junk cell deep in a numeric column, or a wrong field count: the text read finds out
        # which.
        return dict.fromkeys(header)


def _typed_by_pandas(path: Path, header: list[str], skip: int) -> dict[str, Any] | None:
    """The typed pass by pandas' C reader (big files: single-threaded, it read 185 MB in a
    steady 0.43 s here where pyarrow's took 0.45-0.95 s on 2 shared cores; its import, 0.3 s,
    pays off from tens of MB). Numeric columns as pyarrow arrays (no copy), other columns None
    (they take the text pass). None when the field counts cannot be vouched for: pandas pads a
    short row with missing values silently, so a missing value in the last column sends the
    file to pyarrow's strict reader, as does a long row (an error, or for the first row an
    index column)."""
    import warnings

    import pandas as pd
    import pyarrow as pa

    keys = [f"c{i}" for i in range(len(header))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed columns are text
            frame = pd.read_csv(path, header=None, names=keys, skiprows=skip,
                                keep_default_na=False, na_values=_marker_spellings(),
                                encoding="utf-8-sig", skip_blank_lines=True)
    except (ValueError, pd.errors.ParserWarning, OSError):  # ParserError, UnicodeDecodeError
        return None
    # A first row longer than the header becomes an index (pandas' reading of a trailing
    # comma): the default index says every row had the header's field count or fewer.
    if not isinstance(frame.index, pd.RangeIndex) or len(frame) == 0:
        return None
    if frame[keys[-1]].isna().any():  # a short row, or a missing value: the strict reader decides
        return None
    cells: dict[str, Any] = {}
    for name, key in zip(header, keys, strict=True):
        values = frame[key].to_numpy()
        cells[name] = pa.array(values) if values.dtype.kind in "iuf" else None
    return cells


def _chunkless(col: Any) -> Any:
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def _read_strings(path: Path, header: list[str], skip: int, names: list[str]) -> dict[str, Any]:
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
        raise InputError(f"{path}: {_parse_problem(path, len(header), err)}") from None
    return {n: pc.utf8_trim_whitespace(table.column(k)) for n, k in zip(names, wanted, strict=True)}


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


def _parse_problem(path: Path, width: int, err: Exception) -> str:
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


@dataclass
class _Parsed:
    values: np.ndarray  # float64, NaN where missing or not a number
    missing: np.ndarray  # bool: a missing marker or a NaN spelling
    junk: np.ndarray  # bool: present, but not a number


def _parse(table: Table, name: str) -> _Parsed:
    if name not in table.parsed:  # fit_schema and encode both ask: parse each column once
        table.parsed[name] = _parse_column(table, name)
    return table.parsed[name]


def _parse_column(table: Table, name: str) -> _Parsed:
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.cells[name]
    if not pa.types.is_string(col.type):  # read as numbers; a missing marker was read as null
        values = _float64(col)
        return _Parsed(values, np.isnan(values), np.zeros(len(values), dtype=bool))
    lower = pc.utf8_lower(col)
    # Any spelling float() accepts for NaN ("nan", "-nan", "+NaN") is a missing value, not a number.
    missing = pc.is_in(lower, value_set=pa.array(sorted(MISSING_MARKERS)))
    missing = pc.or_(missing, pc.is_in(pc.utf8_ltrim(lower, characters="+-"), value_set=pa.array(["nan"])))
    missing_np = np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)
    try:  # the fast path: every cell a number (arrow accepts the same NaN/inf spellings)
        values = _float64(col)
        return _Parsed(values, missing_np, np.zeros(len(values), dtype=bool))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    values = pd.to_numeric(pd.Series(table.strings(name)), errors="coerce").to_numpy(np.float64)
    junk = np.isnan(values) & ~missing_np
    return _Parsed(values, missing_np, junk)


def _float64(col: Any) -> np.ndarray:
    """An arrow column as float64 numbers, nulls as NaN, without a copy where it is float64
    already (arrow's own to_numpy goes through pandas, a 0.2 s import)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.cast(col, pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    data = np.frombuffer(arr.buffers()[1], dtype=np.float64)
    return data[arr.offset:arr.offset + len(arr)]


class _Blocks:
    """A numeric column's values as the reader's blocks (no combined copy)."""

    def __init__(self, blocks: list[np.ndarray]) -> None:
        self.blocks = blocks
        self.starts = np.cumsum([0] + [len(b) for b in blocks])

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop): a view inside one block, else the pieces joined."""
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        while start < stop:
            block, at = self.blocks[first], start - int(self.starts[first])
            piece = block[at:at + stop - start]
            pieces.append(piece)
            start += len(piece)
            first += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _clean(table: Table, name: str) -> _Blocks | None:
    if name not in table.clean:
        table.clean[name] = _clean_column(table.cells[name])
    return table.clean[name]


def _clean_column(col: Any) -> _Blocks | None:
    """A column read as numbers with no missing value, all finite and within float32 (the usual
    column, which needs none of the per-cell rules) as its blocks; None when any cell needs the
    rules (a missing value, NaN, infinity, float32 overflow or text): those columns take the
    full path with its messages."""
    if not _is_number_type(col.type) or col.null_count:
        return None
    blocks = []
    for chunk in getattr(col, "chunks", [col]):
        if not len(chunk):
            continue
        values = np.frombuffer(chunk.buffers()[1], dtype=chunk.type.to_pandas_dtype())
        values = values[chunk.offset:chunk.offset + len(chunk)]
        # min and max: no temporaries, and a NaN makes both comparisons false
        if values.dtype.kind == "f" and not (-FLOAT32_MAX <= values.min()
                                             and values.max() <= FLOAT32_MAX):
            return None
        blocks.append(values)
    return _Blocks(blocks) if blocks else None


def _is_numeric(p: _Parsed) -> bool:
    numbers = int((~p.missing & ~p.junk).sum())
    return numbers > 0 and numbers > int(p.junk.sum())


def _number_cells(table: Table, name: str, p: _Parsed, role: str) -> np.ndarray:
    """Numbers of a numeric column; junk, infinities and float32 overflow are errors."""
    path = table.path
    if p.junk.any():
        i = int(np.argmax(p.junk))
        raise InputError(f"{path}: {role} '{name}' is numeric but {table.place(i)} has "
                         f"{table.strings(name)[i]!r} ({int(p.junk.sum())} such cell(s)); fix or "
                         "remove it")
    finite = np.isfinite(p.values)
    if finite.all() and np.abs(p.values).max() <= FLOAT32_MAX:  # the usual column: one check
        return p.values
    bad = ~p.missing & ~finite
    big = ~p.missing & finite & (np.abs(np.nan_to_num(p.values)) > FLOAT32_MAX)
    for mask, what in ((bad, "is infinite"), (big, f"overflows float32 (largest {FLOAT32_MAX:.3g})")):
        if mask.any():
            i = int(np.argmax(mask))
            raise InputError(f"{path}: {role} '{name}', {table.place(i)}: value "
                             f"{table.strings(name)[i]!r} {what}; {int(mask.sum())} such cell(s); "
                             "dltui trains in float32, so fix or rescale the column")
    if p.missing.any():
        values = p.values.copy()
        values[p.missing] = np.nan
        return values
    return p.values


def _missing_error(table: Table, counts: dict[str, tuple[int, int]]) -> InputError:
    listed = ", ".join(f"{name} ({n})" for name, (n, _) in counts.items())
    name, (_, first) = min(counts.items(), key=lambda kv: kv[1][1])
    return InputError(f"{table.path}: missing values in column(s) {listed}, the first at "
                      f"{table.place(first)} in '{name}' ({table.strings(name)[first]!r}); set "
                      "data.missing to 'drop', 'zero' or 'mean' (mean is fitted on training rows "
                      "only)")


def fit_schema(table: Table, target: str | None, drop: list[str], missing: str) -> TableSchema:
    """Settle each column as numbers or text; text categories are a schema, taken from the file."""
    path = table.path
    target = target or table.header[-1]
    for name, field_name in [(target, "data.target"), *((d, "data.drop") for d in drop)]:
        if name not in table.header:
            raise InputError(f"{path}: {field_name}: no column '{name}' (columns: "
                             f"{', '.join(table.header)})")
    features = [h for h in table.header if h != target and h not in drop]
    if not features:
        raise InputError(f"{path}: no feature columns left after the target and data.drop")
    cols = []
    for name in features:
        if _clean(table, name) is not None:
            cols.append(Column(name, "number"))
            continue
        p = _parse(table, name)
        if _is_numeric(p):
            cols.append(Column(name, "number"))
            continue
        present = table.strings(name)[~p.missing]
        categories = tuple(sorted(set(present.tolist())))
        if len(categories) > MAX_CATEGORIES:
            raise InputError(f"{path}: text column '{name}' has {len(categories):,} distinct values "
                             f"(at most {MAX_CATEGORIES} are one-hot encoded): an id or free text is "
                             f"not a category; add it to data.drop")
        cols.append(Column(name, "text", categories))
    tp = _parse(table, target)
    return TableSchema(tuple(cols), target, "number" if _is_numeric(tp) else "text",
                       tuple(drop), missing)


def encode(table: Table, schema: TableSchema, need_target: bool = True) -> CsvData:
    """Rows -> float32 features (NaN where a value is missing, filled per split later) and the raw
    target, under the schema's column kinds and categories."""
    path, notes, n = table.path, [], len(table)
    missing_counts: dict[str, tuple[int, int]] = {}
    # Columns are written straight into the one float32 matrix: no per-column blocks to join.
    width = sum(1 if c.kind == "number" else len(c.categories) for c in schema.features)
    x = _feature_matrix(n, width)
    at = 0
    numeric: list[tuple[int, _Blocks]] = []  # (feature position, values), written at the end
    for col in schema.features:
        if col.name not in table.cells:
            raise InputError(f"{path}: no column '{col.name}', which the model was trained on "
                             f"(columns: {', '.join(table.header)})")
        clean = _clean(table, col.name) if col.kind == "number" else None
        if clean is not None:
            numeric.append((at, clean))
            at += 1
            continue
        p = _parse(table, col.name)
        if p.missing.any():
            missing_counts[col.name] = (int(p.missing.sum()), int(np.argmax(p.missing)))
        if col.kind == "number":
            numeric.append((at, _Blocks([_number_cells(table, col.name, p, "column")])))
            at += 1
            continue
        texts = table.strings(col.name)
        index = {k: j for j, k in enumerate(col.categories)}
        onehot = x[:, at:at + len(col.categories)]
        onehot[:] = 0.0
        at += len(col.categories)
        ids = np.array([index.get(t, -1) for t in texts], dtype=np.int64)
        known = (ids >= 0) & ~p.missing
        onehot[np.flatnonzero(known), ids[known]] = 1.0
        onehot[p.missing] = np.nan
        unseen = ~known & ~p.missing
        if unseen.any():
            notes.append(f"column '{col.name}': {int(unseen.sum())} row(s) have categories the "
                         f"model never saw (e.g. {texts[int(np.argmax(unseen))]!r}); encoded as "
                         "all zeros")
        if len(col.categories) > WARN_CATEGORIES and need_target:
            notes.append(f"text column '{col.name}' is one-hot encoded into {len(col.categories)} "
                         "columns; if it is an id, add it to data.drop")
    _fill_columns(x, numeric)
    if missing_counts and schema.missing == "error":
        raise _missing_error(table, missing_counts)

    keep = np.ones(n, dtype=bool)
    y_raw = None
    if need_target and schema.target in table.cells:  # predicting: the target is ignored
        y_raw, y_missing = _target(table, schema, notes)
        if y_missing.any():
            if schema.missing == "error" and need_target:
                first = int(np.argmax(y_missing))
                raise InputError(f"{path}: target column '{schema.target}' has "
                                 f"{int(y_missing.sum())} missing value(s) (first at "
                                 f"{table.place(first)}); a target is never filled: set "
                                 "data.missing to 'drop', 'zero' or 'mean' to remove those rows")
            if need_target:
                keep &= ~y_missing
                notes.append(f"{int(y_missing.sum())} row(s) without a target value removed (a "
                             "target is never filled, whatever data.missing says)")
    elif need_target:
        raise InputError(f"{path}: data.target: no column '{schema.target}' (columns: "
                         f"{', '.join(table.header)})")
    if schema.missing == "drop":
        gaps = np.isnan(x).any(axis=1) & keep
        if gaps.any():
            notes.append(f"{int(gaps.sum())} row(s) with missing feature values removed "
                         "(data.missing = 'drop')")
        keep &= ~gaps
    elif schema.missing == "zero":
        x = np.nan_to_num(x, nan=0.0)
    if not keep.any():
        raise InputError(f"{path}: no rows left after removing rows with missing values")
    rows = np.flatnonzero(keep)
    if keep.all():
        return CsvData(np.ascontiguousarray(x), y_raw, rows, schema, notes)
    return CsvData(np.ascontiguousarray(x[keep]), None if y_raw is None else y_raw[keep], rows,
                   schema, notes)


def _feature_matrix(rows: int, width: int) -> np.ndarray:
    """An uninitialised float32 (rows, width) matrix. A big one is mapped with the kernel's
    4 KB pages: numpy advises 2 MB pages for big arrays, and their first touch was bimodal on
    the 2-core VMs this was measured on (80 MB: 0.01 s or 0.16-0.25 s, most often the latter),
    4 KB pages 0.06 s every time. The array keeps its mapping alive."""
    nbytes = rows * width * 4
    if nbytes < BIG_MATRIX_BYTES:
        return np.empty((rows, width), dtype=np.float32)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.float32).reshape(rows, width)


def _fill_columns(x: np.ndarray, columns: list[tuple[int, _Blocks]]) -> None:
    """Numeric columns written a block of rows at a time (the block stays in cache while each
    column is written into it; measured 1.4x faster than stacking the block's columns)."""
    for s in range(0, len(x), FILL_ROWS):
        block = x[s:s + FILL_ROWS]
        for at, col in columns:
            block[:, at] = col.rows(s, s + len(block))


def _target(table: Table, schema: TableSchema, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    name = schema.target
    p = _parse(table, name)
    if schema.target_kind == "number":
        return _number_cells(table, name, p, "target column"), p.missing
    texts = table.strings(name)
    empty = texts == ""
    marked = p.missing & ~empty
    if marked.any():
        labels = sorted(set(texts[marked].tolist()))
        notes.append(f"target column '{name}': {', '.join(map(repr, labels))} ({int(marked.sum())} "
                     "row(s)) taken as class name(s), not as missing values: in a text target every "
                     "non-empty cell is a class")
    return texts.astype(str), empty


def read_csv(path: Path, target: str | None, drop: list[str], missing: str) -> CsvData:
    """A CSV, Parquet or Feather file (by its suffix) as features and a raw target."""
    table = read_any(path)
    return encode(table, fit_schema(table, target, drop, missing))
