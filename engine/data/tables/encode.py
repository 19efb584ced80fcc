"""A table's columns settled into a schema (numbers or text categories) and encoded under it as one
float32 feature matrix and a raw target, with the data.missing rule applied."""

from __future__ import annotations

import mmap
import re
from pathlib import Path

import numpy as np

from ...errors import InputError
from .columns import Blocks, Parsed, clean_blocks, is_numeric, missing_error, number_cells, parse
from .reader import Table, read_any
from .schema import MAX_CATEGORIES, WARN_CATEGORIES, Column, CsvData, TableSchema

BIG_MATRIX_BYTES = 1 << 24  # from here the feature matrix gets its own mapping
FILL_ROWS = 16384  # rows per block when numeric columns are written into the feature matrix


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
        if clean_blocks(table, name) is not None:
            cols.append(Column(name, "number"))
            continue
        p = parse(table, name)
        if is_numeric(p):
            cols.append(Column(name, "number"))
            continue
        categories = _categories(table, name, p)
        _written_numbers(table, name, categories)
        if len(categories) > MAX_CATEGORIES:
            raise InputError(f"{path}: text column '{name}' has {len(categories):,} distinct values "
                             f"(at most {MAX_CATEGORIES} are one-hot encoded): an id or free text is "
                             f"not a category; add it to data.drop")
        cols.append(Column(name, "text", categories))
    tp = parse(table, target)
    return TableSchema(tuple(cols), target, "number" if is_numeric(tp) else "text",
                       tuple(drop), missing)


def _categories(table: Table, name: str, p: Parsed) -> tuple[str, ...]:
    """A text column's categories: its distinct non-missing cells, sorted."""
    if p.distinct is not None:
        present = np.bincount(p.codes[~p.missing], minlength=len(p.distinct)) > 0
        return tuple(sorted(c for c, seen in zip(p.distinct, present, strict=True) if seen))
    return tuple(sorted(set(table.strings(name)[~p.missing].tolist())))


def _category_ids(table: Table, name: str, p: Parsed, categories: tuple[str, ...]) -> np.ndarray:
    """Each row's position among the schema's categories, -1 for a cell it does not have."""
    index = {k: j for j, k in enumerate(categories)}
    if p.distinct is not None:
        return np.array([index.get(c, -1) for c in p.distinct], dtype=np.int64)[p.codes]
    return np.array([index.get(t, -1) for t in table.strings(name)], dtype=np.int64)


# Numbers as people format them: thousands separators, percentages, a currency sign.
_FORMATTED = re.compile(r"^[+-]?[$€£]?\s*(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*%?$")


def _written_numbers(table: Table, name: str, categories: tuple[str, ...]) -> None:
    """A column of formatted numbers (`1,234.5`, `12%`, `$3`) would become one-hot text columns
    without a word: refuse it, naming a cell and the fix."""
    formatted = [c for c in categories if _FORMATTED.match(c) and not _is_plain(c)]
    if not formatted or len(formatted) < 0.5 * len(categories):
        return
    strings = table.strings(name)
    row = int(np.flatnonzero(strings == formatted[0])[0])
    raise InputError(f"{table.path}: column '{name}' holds numbers written with separators, "
                     f"signs or % ({formatted[0]!r} at {table.place(row)}, {len(formatted)} such "
                     "value(s)): dltui reads plain numbers (1234.5, 0.12); rewrite them, or add "
                     "the column to data.drop")


def _is_plain(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def encode(table: Table, schema: TableSchema, need_target: bool = True) -> CsvData:
    """Rows -> float32 features (NaN where a value is missing, filled per split later) and the raw
    target, under the schema's column kinds and categories."""
    path, notes, n = table.path, [], len(table)
    missing_counts: dict[str, tuple[int, int]] = {}
    # Columns are written straight into the one float32 matrix: no per-column blocks to join.
    width = sum(1 if c.kind == "number" else len(c.categories) for c in schema.features)
    x = _feature_matrix(n, width)
    at = 0
    numeric: list[tuple[int, Blocks]] = []  # (feature position, values), written at the end
    nan_columns: list[int] = []  # feature positions that hold a missing value
    for col in schema.features:
        if col.name not in table.cells:
            raise InputError(f"{path}: no column '{col.name}', which the model was trained on "
                             f"(columns: {', '.join(table.header)})")
        clean = clean_blocks(table, col.name) if col.kind == "number" else None
        if clean is not None:
            numeric.append((at, clean))
            at += 1
            continue
        p = parse(table, col.name)
        if p.missing.any():
            missing_counts[col.name] = (int(p.missing.sum()), int(np.argmax(p.missing)))
        if col.kind == "number":
            numeric.append((at, Blocks([number_cells(table, col.name, p, "column")])))
            if p.missing.any():
                nan_columns.append(at)
            at += 1
            continue
        if not col.categories and need_target:
            notes.append(f"column '{col.name}' is empty in every row: it adds no feature "
                         f"(data.missing = '{schema.missing}'); add it to data.drop to say so")
        onehot = x[:, at:at + len(col.categories)]  # zeros already: the matrix starts zeroed
        at += len(col.categories)
        ids = _category_ids(table, col.name, p, col.categories)
        known = (ids >= 0) & ~p.missing
        onehot[np.flatnonzero(known), ids[known]] = 1.0
        if p.missing.any() and schema.missing != "zero":  # zero: the all-zero row stands
            onehot[p.missing] = np.nan
            nan_columns.extend(range(at - len(col.categories), at))
        unseen = ~known & ~p.missing
        if unseen.any():
            example = table.strings(col.name)[int(np.argmax(unseen))]
            notes.append(f"column '{col.name}': {int(unseen.sum())} row(s) have categories the "
                         f"model never saw (e.g. {example!r}); encoded as all zeros")
        if len(col.categories) > WARN_CATEGORIES and need_target:
            notes.append(f"text column '{col.name}' is one-hot encoded into {len(col.categories)} "
                         "columns; if it is an id, add it to data.drop")
    _fill_columns(x, numeric)
    if missing_counts and schema.missing == "error":
        raise missing_error(table, missing_counts)

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
        gaps = np.isnan(x[:, nan_columns]).any(axis=1) & keep
        if gaps.any():
            notes.append(f"{int(gaps.sum())} row(s) with missing feature values removed "
                         "(data.missing = 'drop')")
        keep &= ~gaps
    elif schema.missing == "zero":
        for at in nan_columns:  # only the columns with a gap: a whole-matrix pass took 0.3 s per 1M rows
            column = x[:, at]
            column[np.isnan(column)] = 0.0
    if not keep.any():
        raise InputError(f"{path}: no rows left after removing rows with missing values")
    rows = np.flatnonzero(keep)
    if keep.all():
        return CsvData(np.ascontiguousarray(x), y_raw, rows, schema, notes)
    return CsvData(np.ascontiguousarray(x[keep]), None if y_raw is None else y_raw[keep], rows,
                   schema, notes)


def _feature_matrix(rows: int, width: int) -> np.ndarray:
    """A zeroed float32 (rows, width) matrix (one-hot columns are then written only where a
    1 goes; the kernel hands out zeroed pages, so zeroing costs nothing). A big one is mapped
    with the kernel's 4 KB pages: numpy advises 2 MB pages for big arrays, and their first
    touch was bimodal on the 2-core VMs this was measured on (80 MB: 0.01 s or 0.16-0.25 s, most
    often the latter), 4 KB pages 0.06 s every time. The array keeps its mapping alive."""
    nbytes = rows * width * 4
    if nbytes < BIG_MATRIX_BYTES:
        return np.zeros((rows, width), dtype=np.float32)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.float32).reshape(rows, width)


def _fill_columns(x: np.ndarray, columns: list[tuple[int, Blocks]]) -> None:
    """Numeric columns written a block of rows at a time (the block stays in cache while each
    column is written into it; measured 1.4x faster than stacking the block's columns)."""
    for s in range(0, len(x), FILL_ROWS):
        block = x[s:s + FILL_ROWS]
        for at, col in columns:
            block[:, at] = col.rows(s, s + len(block))


def _target(table: Table, schema: TableSchema, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    name = schema.target
    p = parse(table, name)
    if schema.target_kind == "number":
        return number_cells(table, name, p, "target column"), p.missing
    if p.distinct is not None and name not in table.approximate:  # a name per distinct cell
        texts = np.array(p.distinct or [""], dtype=str)[p.codes]
    else:
        texts = table.strings(name).astype(str)
    empty = texts == ""
    marked = p.missing & ~empty
    if marked.any():
        labels = sorted(set(texts[marked].tolist()))
        notes.append(f"target column '{name}': {', '.join(map(repr, labels))} ({int(marked.sum())} "
                     "row(s)) taken as class name(s), not as missing values: in a text target every "
                     "non-empty cell is a class")
    return texts, empty


def read_csv(path: Path, target: str | None, drop: list[str], missing: str) -> CsvData:
    """A CSV, Parquet or Feather file (by its suffix) as features and a raw target."""
    table = read_any(path)
    return encode(table, fit_schema(table, target, drop, missing))
