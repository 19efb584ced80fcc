"""The data rules for one column: each cell parsed as a number, a missing marker or junk, once
per column, and a column that needs no per-cell rule (all finite numbers within float32) kept as
the reader's blocks. Errors name the file, the column and the line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from .reader import Table
from .schema import FLOAT32_MAX, MISSING_MARKERS
from .typed_pass import chunkless, is_number_type


@dataclass
class Parsed:
    values: np.ndarray  # float64, NaN where missing or not a number
    missing: np.ndarray  # bool: a missing marker or a NaN spelling
    junk: np.ndarray  # bool: present, but not a number
    # A text column with few distinct cells: each distinct cell once, and each row's position
    # among them (the encoder one-hots from these instead of comparing every cell's text).
    distinct: list[str] | None = None
    codes: np.ndarray | None = None


# A text column is parsed per distinct cell while they are at most this many (a category column
# has a handful; a numeric column with a few junk cells has almost one per row, and is parsed
# cell by cell by pandas' vectorised parser instead).
DISTINCT_PARSE = 1 << 16


def parse(table: Table, name: str) -> Parsed:
    if name not in table.parsed:  # fit_schema and encode both ask: parse each column once
        table.parsed[name] = _parse_column(table, name)
    return table.parsed[name]


def _parse_column(table: Table, name: str) -> Parsed:
    import pyarrow as pa

    col = table.cells[name]
    if not pa.types.is_string(col.type):  # read as numbers; a missing marker was read as null
        values = _float64(col)
        return Parsed(values, np.isnan(values), np.zeros(len(values), dtype=bool))
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(chunkless(col))
    if len(encoded.dictionary) <= DISTINCT_PARSE:
        distinct = encoded.dictionary.to_pylist()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
        each = _parse_cells(distinct)
        return Parsed(each.values[codes], each.missing[codes], each.junk[codes], distinct, codes)
    return _parse_cells(col)


def _parse_cells(cells: Any) -> Parsed:
    """Text cells (a list, or an arrow column) as numbers, missing markers and junk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = cells if isinstance(cells, pa.Array | pa.ChunkedArray) else pa.array(cells, pa.string())
    lower = pc.utf8_lower(col)
    # Any spelling float() accepts for NaN ("nan", "-nan", "+NaN") is a missing value, not a number.
    missing = pc.is_in(lower, value_set=pa.array(sorted(MISSING_MARKERS)))
    missing = pc.or_(missing, pc.is_in(pc.utf8_ltrim(lower, characters="+-"), value_set=pa.array(["nan"])))
    missing_np = np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)
    try:  # the fast path: every cell a number (arrow accepts the same NaN/inf spellings)
        values = _float64(col)
        return Parsed(values, missing_np, np.zeros(len(values), dtype=bool))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    strings = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(pd.Series(strings), errors="coerce").to_numpy(np.float64)
    junk = np.isnan(values) & ~missing_np
    return Parsed(values, missing_np, junk)


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


class Blocks:
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


def clean_blocks(table: Table, name: str) -> Blocks | None:
    if name not in table.clean:
        table.clean[name] = _clean_column(table.cells[name])
    return table.clean[name]


def _clean_column(col: Any) -> Blocks | None:
    """A column read as numbers with no missing value, all finite and within float32 (the usual
    column, which needs none of the per-cell rules) as its blocks; None when any cell needs the
    rules (a missing value, NaN, infinity, float32 overflow or text): those columns take the
    full path with its messages."""
    if not is_number_type(col.type) or col.null_count:
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
    return Blocks(blocks) if blocks else None


def is_numeric(p: Parsed) -> bool:
    numbers = int((~p.missing & ~p.junk).sum())
    return numbers > 0 and numbers > int(p.junk.sum())


def number_cells(table: Table, name: str, p: Parsed, role: str) -> np.ndarray:
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


def missing_error(table: Table, counts: dict[str, tuple[int, int]]) -> InputError:
    listed = ", ".join(f"{name} ({n})" for name, (n, _) in counts.items())
    name, (_, first) = min(counts.items(), key=lambda kv: kv[1][1])
    return InputError(f"{table.path}: missing values in column(s) {listed}, the first at "
                      f"{table.place(first)} in '{name}' ({table.strings(name)[first]!r}); set "
                      "data.missing to 'drop', 'zero' or 'mean' (mean is fitted on training rows "
                      "only)")
