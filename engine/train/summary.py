"""What a run says about itself once trained: the summary's numbers (K-fold table, averaged curve,
test score), its one-line headline, the model card and the preset as the run folder keeps it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..preflight import Prepared
from ..spec import Preset
from .loop import FoldOutcome
from .results import averaged_curve, holdout_spread, kfold_table


def summarise(prep: Prepared, rows: list[dict[str, Any]], outcomes: list[FoldOutcome]) -> dict[str, Any]:
    """The results of every training so far: the K-fold table, the averaged curve, the test score."""
    v = prep.preset.validation
    metric = prep.primary_metric
    rows = sorted(rows, key=lambda r: (r["repeat"], r["fold"]))
    out: dict[str, Any] = {"primary_metric": metric, "folds": rows,
                           "test_size": len(prep.plan.test_idx), "splits": prep.plan.describe()}
    if not rows:
        return out
    out["kfold"] = kfold_table(rows)
    outcomes = sorted(outcomes, key=lambda o: (o.info.repeat, o.info.fold))
    out["averaged_curve"] = averaged_curve(outcomes, metric, v.smoothing)
    if v.scheme == "holdout":
        out["best_epoch"], out["val"] = rows[0]["best_epoch"], rows[0]["best"]
        spread = holdout_spread(rows, metric)
        if spread:
            out["holdout_spread"] = spread
    tests = [r["test"] for r in rows if r.get("test")]
    if tests:
        out["test"] = {k: float(np.mean([t[k] for t in tests])) for k in tests[0]}
    return out


def model_card(prep: Prepared) -> dict[str, Any]:
    """What the run folder's model.json says about the data and the model."""
    d, p = prep.data, prep.preset
    return {"preset": p.name, "task": d.task, "classes": d.classes,
            "input_shape": list(d.input_shape),
            "x_dtype": "int64" if d.x.dtype == np.int64 else "float32",
            "layout": p.data.layout, "source": p.data.source,
            "schema": d.schema.to_dict() if d.schema else None,
            "feature_names": d.feature_names, "loss": p.train.loss,
            "primary_metric": prep.primary_metric, "data_fingerprint": d.fingerprint()}


def portable(preset: Preset, data: Dataset) -> Preset:
    """The preset as the run folder keeps it: a data file by its absolute path, so the copy
    re-runs from any directory."""
    kind = preset.data.source.partition(":")[0]
    if data.source_path is None or kind == "builtin":
        return preset
    source = f"{kind}:{data.source_path}"
    return preset.model_copy(update={"data": preset.data.model_copy(update={"source": source})})


def headline(summary: dict[str, Any]) -> str:
    """One phrase for lists of runs: the primary metric where the run left it."""
    metric = summary.get("primary_metric", "loss")
    final = summary.get("final_fit", {}).get("test")
    if final:
        return f"test {metric} {final[metric]:.4g} (final fit)"
    table = summary.get("kfold") or {}
    if table.get("folds", 0) > 1:
        return f"val {metric} {table['mean']['best'][metric]:.4g} ± {table['std']['best'][metric]:.2g}"
    val = summary.get("val")
    if val and metric in val and not math.isnan(val[metric]):
        return f"val {metric} {val[metric]:.4g} @ epoch {summary.get('best_epoch')}"
    return ""
