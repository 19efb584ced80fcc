"""Missing values in data given to a trained model: the run's own rule (`data.missing`) applied
again, or the rule `predict --missing` asks for. A row that cannot be predicted keeps its place in
the output with the reason, so the output always has one row per input row, in input order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

RULES = ("error", "skip", "mean", "zero")
# What the run's training rule means for new rows: rows it would have removed (drop) or refused
# (error) cannot be predicted as they are.
AT_PREDICT = {"mean": "mean", "zero": "zero", "drop": "skip", "error": "skip"}


@dataclass
class Gaps:
    keep: np.ndarray  # bool per input row: predicted
    reasons: dict[int, str] = field(default_factory=dict)  # source row -> why it was not
    fill_means: bool = False  # fill gaps with each model's training means
    fill_zero: bool = False


def column_of(feature: str) -> str:
    """The source column of an encoded feature (`island=Biscoe` came from `island`)."""
    return feature.split("=", 1)[0]


def resolve_gaps(x: np.ndarray, rows: np.ndarray, features: list[str], run_rule: str,
                 asked: str | None, where: str) -> Gaps:
    """What to do with the rows of `x` that hold a NaN, under the rule asked for (or the run's)."""
    if asked is not None and asked not in RULES:
        raise InputError(f"--missing {asked}: allowed: {', '.join(RULES)}")
    rule = asked or AT_PREDICT.get(run_rule, "skip")
    if not np.issubdtype(x.dtype, np.floating):
        return Gaps(np.ones(len(x), dtype=bool))
    gap = np.isnan(x.reshape(len(x), -1)).any(axis=1)
    if not gap.any():
        return Gaps(np.ones(len(x), dtype=bool))
    if rule == "mean":
        return Gaps(np.ones(len(x), dtype=bool), fill_means=True)
    if rule == "zero":
        return Gaps(np.ones(len(x), dtype=bool), fill_zero=True)
    first = int(np.argmax(gap))
    if rule == "error":
        raise InputError(f"{where}: row {int(rows[first])} has a missing value in "
                         f"'{_first_gap(x[first], features)}' ({int(gap.sum())} row(s) with gaps); "
                         "--missing skip leaves them unpredicted, --missing mean fills them with "
                         "the training means")
    how = (f"--missing {asked}" if asked else f"the run's rule data.missing = '{run_rule}'")
    reasons = {int(rows[i]): f"missing value in '{_first_gap(x[i], features)}' ({how}; "
                             "--missing mean fills it with the training mean)"
               for i in np.flatnonzero(gap)}
    return Gaps(~gap, reasons)


def _first_gap(row: np.ndarray, features: list[str]) -> str:
    i = int(np.argmax(np.isnan(row.reshape(-1))))
    return column_of(features[i]) if i < len(features) else f"feature {i}"
