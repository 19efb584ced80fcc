"""Sweeps: the book fights overfitting by comparison (a smaller and a bigger network, dropout, L2),
each variant judged by its validation curve. A `[sweep]` table (or `dltui sweep --vary`) names
preset keys and the values to try; this module turns it into validated variants, grid or random,
before anything trains, and ranks their results.

    [sweep]
    mode = "grid"                       # or "random" with samples = N
    "model.layers[0].units" = [4, 16, 64]
    "train.learning_rate" = [1e-3, 1e-2]
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..presets import set_value, validate_preset
from ..spec import Preset

SETTINGS = {"mode", "samples", "prune", "seed", "variants"}
# Lower is better for these; accuracy-like metrics are better higher.
LOWER_IS_BETTER = {"loss", "mae", "mse", "ser"}


@dataclass(frozen=True)
class Variant:
    index: int  # 1-based, as the table shows it
    changes: dict[str, Any]
    preset: Preset
    name: str = ""  # a hand-picked variant's name

    @property
    def label(self) -> str:
        return self.name or ", ".join(f"{short_key(k)}={v}" for k, v in self.changes.items()) or "base"

    @property
    def slug(self) -> str:
        text = "-".join(f"{short_key(k)}={v}" for k, v in self.changes.items())
        return re.sub(r"[^A-Za-z0-9_.=-]+", "", text)[:50] or "base"


@dataclass(frozen=True)
class SweepPlan:
    base: Preset
    variants: list[Variant]
    mode: str
    prune: bool

    @property
    def keys(self) -> list[str]:
        return sorted({k for v in self.variants for k in v.changes})


def short_key(key: str) -> str:
    """`model.layers[0].units` -> `layers[0].units`, `train.learning_rate` -> `learning_rate`."""
    return key.removeprefix("model.").removeprefix("train.").removeprefix("data.") \
        .removeprefix("validation.")


def parse_vary(items: list[str]) -> dict[str, list[Any]]:
    """`--vary KEY=V1,V2` items; each value in TOML syntax (bare words are strings)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise InputError(f"--vary {item}: expected KEY=V1,V2,..., e.g. train.learning_rate=1e-3,1e-2")
        out[key.strip()] = [_value(v.strip()) for v in values.split(",")]
    return out


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


MAX_VARIANTS = 1000  # a bigger sweep is almost always a typo; `dltui sweep --yes` allows it


_KINDS: dict[str, tuple[type, str]] = {"mode": (str, "a string"), "samples": (int, "an integer"),
                                       "prune": (bool, "true or false"), "seed": (int, "an integer"),
                                       "variants": (list, "a list")}


def _check_settings(settings: dict[str, Any], where: str) -> None:
    for key, value in settings.items():
        kind, words = _KINDS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(f"{where}: sweep.{key}: expected {words}, got {value!r}")


def _combo(values: list[list[Any]], i: int) -> tuple[Any, ...]:
    """The i-th combination of the grid in itertools.product's order, without building the rest."""
    out = []
    for options in reversed(values):
        i, r = divmod(i, len(options))
        out.append(options[r])
    return tuple(reversed(out))


def plan_sweep(raw: dict[str, Any], where: str, vary: dict[str, list[Any]] | None = None,
               mode: str | None = None, samples: int | None = None,
               prune: bool | None = None, max_variants: float = MAX_VARIANTS) -> SweepPlan:
    """Every variant of a raw preset, each validated like a preset; an error names the variant.
    Command-line settings override the preset's `[sweep]` table."""
    table = dict(raw.get("sweep") or {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: sweep: expected a table of keys and value lists")
    settings = {k: table.pop(k) for k in list(table) if k in SETTINGS}
    _check_settings(settings, where)
    grid = {**table, **(vary or {})}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{where}: sweep.\"{key}\": expected a non-empty list of values to try")
    mode = mode or settings.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise InputError(f"{where}: sweep.mode: '{mode}' is not allowed (allowed: grid, random)")
    explicit = settings.get("variants") or []
    if explicit and grid:
        raise InputError(f"{where}: sweep: give either keys with value lists or a variants list, "
                         "not both")
    if explicit:
        return _explicit(raw, where, explicit, bool(prune if prune is not None else settings.get("prune")))
    size = math.prod(len(v) for v in grid.values()) if grid else 1
    if mode == "random":
        n = samples or settings.get("samples")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"{where}: sweep.samples: random mode needs samples = N (1 or more)")
        if n > max_variants:
            raise InputError(f"{where}: sweep.samples: {n:,} variants; at most {max_variants:,} "
                             "unless --yes")
        rng = np.random.default_rng(settings.get("seed", 0))
        picked = sorted(rng.choice(size, size=min(n, size), replace=False).tolist())
        values = list(grid.values())
        combos = [_combo(values, i) for i in picked]
    else:
        # Counted before anything is built: a 100,000-variant grid is refused at once, not
        # after minutes of validating every variant.
        if size > max_variants:
            raise InputError(f"{where}: sweep: the grid has {size:,} variants "
                             f"({' x '.join(str(len(v)) for v in grid.values())}); at most "
                             f"{max_variants:,} unless --yes (or use mode = "
                             "'random' with samples = N)")
        combos = list(itertools.product(*grid.values())) if grid else [()]
    entries = [dict(zip(grid, combo, strict=True)) for combo in combos]
    return _variants(raw, where, entries, mode,
                     bool(prune if prune is not None else settings.get("prune")))


def _explicit(raw: dict[str, Any], where: str, listed: Any, prune: bool) -> SweepPlan:
    """`variants = [{name = "smaller", "model.layers[0].units" = 4}, ...]`: hand-picked variants,
    for comparisons a grid cannot express (the book's original / smaller / bigger / dropout)."""
    if not isinstance(listed, list) or not all(isinstance(v, dict) for v in listed):
        raise InputError(f"{where}: sweep.variants: expected a list of tables of key = value")
    return _variants(raw, where, listed, "list", prune)


def _variants(raw: dict[str, Any], where: str, entries: list[dict[str, Any]], mode: str,
              prune: bool) -> SweepPlan:
    """Each entry's changes (and optional `name`) applied to the base preset and validated."""
    base_raw = {k: v for k, v in raw.items() if k != "sweep"}
    base = validate_preset(base_raw, where)
    variants = []
    for index, entry in enumerate(entries, start=1):
        changes = {k: v for k, v in entry.items() if k != "name"}
        name = str(entry.get("name", ""))
        label = name or ", ".join(f"{k}={v}" for k, v in changes.items())
        variant_raw = copy.deepcopy(base_raw)
        for key, value in changes.items():
            try:
                set_value(variant_raw, key, value)
            except KeyError:
                raise InputError(f"{where}: sweep variant {index} ({label}): {key} does not exist "
                                 "in the preset") from None
        variant_raw["name"] = f"{base.name}-v{index:02d}"
        preset = validate_preset(variant_raw, f"{where}: sweep variant {index} ({label})")
        variants.append(Variant(index, changes, preset, name))
    return SweepPlan(base, variants, mode, prune)


def rank(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Finished variants best first by the mean of the primary metric; the rest after them."""
    sign = 1 if metric in LOWER_IS_BETTER else -1
    scored = [r for r in rows if r.get("mean") is not None]
    others = [r for r in rows if r.get("mean") is None]
    return sorted(scored, key=lambda r: sign * r["mean"]) + others
