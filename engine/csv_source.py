"""CSV files: pick the target column, drop columns, one-hot encode text columns, report missing
values as the book advises (an error by default, or drop / zero / mean on request)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dltui.engine.errors import InputError
from dltui.engine.spec import DataSpec

_MISSING = {"", "na", "nan", "null", "none", "?"}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(path: Path, spec: DataSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: cannot read as CSV: {err}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise InputError(f"{path}: line {i} has {len(r)} fields, the header has {len(header)}")
    target = spec.target or header[-1]
    for name in [target, *spec.drop]:
        if name not in header:
            field = "data.target" if name == target else "data.drop"
            raise InputError(f"{path}: {field}: no column '{name}' (columns: {', '.join(header)})")
    columns = {h: [r[i].strip() for r in body] for i, h in enumerate(header)}
    y_text = columns.pop(target)
    for name in spec.drop:
        columns.pop(name, None)
    if not columns:
        raise InputError(f"{path}: no feature columns left after the target and data.drop")

    blocks, names, missing = [], [], {}
    for name, cells in columns.items():
        absent = np.array([c.lower() in _MISSING for c in cells])
        numbers = [_number(c) for c in cells]
        bad = [i for i, (c, v) in enumerate(zip(cells, numbers, strict=True))
               if v is None and not absent[i]]
        if absent.any():
            missing[name] = int(absent.sum())
        present = len(cells) - int(absent.sum())
        if bad and len(bad) < present:  # mostly numbers: the rest is junk, not a text column
            i = bad[0]
            raise InputError(f"{path}: column '{name}' is numeric but line {i + 2} has "
                             f"{cells[i]!r}; fix or remove it")
        if bad:  # a text column: one-hot, a missing cell is all zeros
            categories = sorted({c for c, a in zip(cells, absent, strict=True) if not a})
            onehot = np.array([[c == k for k in categories] for c in cells], dtype=np.float32)
            onehot[absent] = np.nan
            blocks.append(onehot)
            names += [f"{name}={k}" for k in categories]
        else:
            blocks.append(np.array([np.nan if v is None else v for v in numbers],
                                   dtype=np.float32)[:, None])
            names.append(name)
    x = np.concatenate(blocks, axis=1)

    if missing and spec.missing == "error":
        counts = ", ".join(f"{k} ({v})" for k, v in missing.items())
        raise InputError(f"{path}: missing values in column(s) {counts}; set data.missing to "
                         "'drop', 'zero' or 'mean' (mean is fitted on training rows only)")
    y_raw: np.ndarray = np.array(y_text)
    y_missing = np.array([c.lower() in _MISSING for c in y_text])
    y_numbers = [_number(c) for c in y_text]
    if all(v is not None for v, m in zip(y_numbers, y_missing, strict=True) if not m):
        y_raw = np.array([np.nan if m else v for v, m in zip(y_numbers, y_missing, strict=True)])
    keep = ~y_missing
    if spec.missing == "drop":
        keep &= ~np.isnan(x).any(axis=1)
    elif spec.missing == "zero":
        x = np.nan_to_num(x, nan=0.0)
    elif y_missing.any():
        raise InputError(f"{path}: target column '{target}' has {int(y_missing.sum())} missing "
                         "values; set data.missing = 'drop' to remove those rows")
    if not keep.any():
        raise InputError(f"{path}: no rows left after dropping rows with missing values")
    return np.ascontiguousarray(x[keep]), y_raw[keep], names
