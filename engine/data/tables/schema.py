"""A table's columns as dltui settled them (numbers, or text with its categories): the schema a run
folder keeps so `predict` encodes new rows exactly as training did, and what encoding gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Cells that mean "no value" in a numeric or text feature column. In a text *target* column only an
# empty cell is missing: there 'NA' or 'None' is a class the user wrote, and is kept as one.
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_CATEGORIES = 1000  # one-hot beyond this is an id column, not a category
WARN_CATEGORIES = 100


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
class CsvData:
    x: np.ndarray
    y_raw: np.ndarray | None
    rows: np.ndarray  # data-row index in the file of each sample kept
    schema: TableSchema
    notes: list[str] = field(default_factory=list)
