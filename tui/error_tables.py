"""The error report as rich tables (for `dltui report` and the app's errors view): one renderer so
both show the same thing."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .report import fmt


def render_report(r: dict[str, Any], width: int = 60) -> RenderableType:
    parts: list[RenderableType] = []
    if not r.get("models"):
        return Text("no validation predictions saved for this run (it stopped before its first "
                    "model, or was made by an older dltui)")
    if "confusion_total" in r:
        classes = r["classes"]
        n_models = len(r["models"])
        summed = f", summed over {n_models} models" if n_models > 1 else ""
        title = f"confusion matrix (validation{summed})"
        table = Table(title=title, title_justify="left")
        table.add_column("true \\ predicted")
        for c in classes:
            table.add_column(c[:12], justify="right")
        for c, row in zip(classes, r["confusion_total"], strict=True):
            table.add_row(c[:16], *(str(v) for v in row))
        parts.append(table)
        per = Table(title="per class", title_justify="left")
        for col in ("class", "precision", "recall", "support"):
            per.add_column(col, justify="left" if col == "class" else "right")
        for p in r["per_class"]:
            per.add_row(p["class"][:16], fmt(p["precision"]), fmt(p["recall"]), str(p["support"]))
        parts.append(per)
        wrong = Table(title="most confidently wrong", title_justify="left")
        for col in ("row", "true", "predicted", "probability", "model"):
            wrong.add_column(col, justify="right" if col in ("row", "probability") else "left")
        for w in r["confidently_wrong"]:
            wrong.add_row(str(w["row"]), w["true"][:16], w["predicted"][:16], fmt(w["probability"]),
                          w["model"])
        parts.append(wrong if r["confidently_wrong"] else Text("no validation sample was wrong"))
    elif "largest_errors" in r:
        parts.append(Text(f"validation mean absolute error {fmt(r['mae'])}"))
        parts.append(Text(scatter(r["points"], width)))
        table = Table(title="largest absolute errors", title_justify="left")
        for col in ("row", "true", "predicted", "error", "model"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for e in r["largest_errors"]:
            table.add_row(str(e["row"]), fmt(e["true"]), fmt(e["predicted"]), fmt(e["error"]), e["model"])
        parts.append(table)
    return Group(*parts)


def scatter(points: list[tuple[float, float]], width: int = 60, height: int = 15) -> str:
    """Predicted vs true as a plotext scatter, with the diagonal a perfect model would follow."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    true = [p[0] for p in points]
    pred = [p[1] for p in points]
    plt.scatter(true, pred, marker="dot", label="validation")
    lo, hi = min(true + pred), max(true + pred)
    plt.plot([lo, hi], [lo, hi], marker="braille", label="perfect")
    plt.xlabel("true")
    plt.ylabel("predicted")
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())  # the clear theme still emits resets
