"""Look at the errors: from the validation predictions a run saved (one file per fold model), the
confusion matrix per fold and summed, per-class precision and recall, the most confidently wrong
samples; for regression the largest absolute errors and the points of a predicted-vs-true plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .model_files import load_arrays, read_model_card


def val_predictions(run_dir: Path, task: str = "", classes: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Each fold model's saved validation outputs, checked: the files are written atomically, so
    one that is damaged, or whose arrays do not fit together, was changed after training."""
    folder = run_dir / "predictions"
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("val-*.npz")):
        arrays = load_arrays(path)
        problem = _misfit(arrays, task, classes)
        if problem:
            raise InputError(f"{path}: {problem}")
        out[path.stem.removeprefix("val-")] = arrays
    return out


def _misfit(arrays: dict[str, np.ndarray], task: str, classes: int) -> str:
    missing = [k for k in ("rows", "y", "outputs") if k not in arrays]
    if missing:
        return f"no array {missing[0]!r}"
    rows, y, outputs = arrays["rows"], arrays["y"], arrays["outputs"]
    if not (len(rows) == len(y) == len(outputs)):
        return f"arrays of different lengths (rows {len(rows)}, y {len(y)}, outputs {len(outputs)})"
    if outputs.ndim < 2 or not np.issubdtype(outputs.dtype, np.number):
        return "outputs are not a numeric (samples, outputs) array"
    if task in ("binary", "multiclass"):
        width = outputs.shape[-1]
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() >= classes)):
            return f"y holds values outside the {classes} class ids"
        if width not in (1, classes) or (width == 1 and classes != 2):
            return f"outputs have {width} column(s) for {classes} classes"
    return ""


def _class_ids(outputs: np.ndarray) -> np.ndarray:
    return (outputs[:, 0] > 0.5).astype(np.int64) if outputs.shape[-1] == 1 else outputs.argmax(-1)


def _confidence(outputs: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    if outputs.shape[-1] == 1:
        return np.where(predicted == 1, outputs[:, 0], 1 - outputs[:, 0])
    return outputs[np.arange(len(outputs)), predicted]


def confusion(y: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    return np.bincount(y * n + predicted, minlength=n * n).reshape(n, n)


def error_report(run_dir: Path, worst: int = 10) -> dict[str, Any]:
    card = read_model_card(run_dir)
    task, classes = card["task"], list(card.get("classes", []))
    preds = val_predictions(run_dir, task, len(classes))
    report: dict[str, Any] = {"task": task, "classes": classes, "models": sorted(preds)}
    if not preds:
        return report
    if task in ("binary", "multiclass"):
        n = len(classes)
        per_model, wrong = {}, []
        for name, p in preds.items():
            predicted = _class_ids(p["outputs"])
            y = p["y"].astype(np.int64)
            per_model[name] = confusion(y, predicted, n)
            conf = _confidence(p["outputs"], predicted)
            for i in np.flatnonzero(predicted != y):
                wrong.append({"model": name, "row": int(p["rows"][i]), "true": classes[y[i]],
                              "predicted": classes[predicted[i]], "probability": float(conf[i])})
        total = sum(per_model.values())
        tp = np.diag(total).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / total.sum(0)
            recall = tp / total.sum(1)
        report["confusion"] = {k: v.tolist() for k, v in per_model.items()}
        report["confusion_total"] = total.tolist()
        report["per_class"] = [{"class": c, "precision": float(np.nan_to_num(precision[i])),
                                "recall": float(np.nan_to_num(recall[i])),
                                "support": int(total[i].sum())} for i, c in enumerate(classes)]
        report["confidently_wrong"] = sorted(wrong, key=lambda w: -w["probability"])[:worst]
    elif task == "regression":
        errors, points = [], []
        for name, p in preds.items():
            pred = p["outputs"].reshape(len(p["outputs"]), -1)[:, 0]
            true = p["y"].reshape(len(p["y"]), -1)[:, 0]
            points += list(zip(true.tolist(), pred.tolist(), strict=True))
            for i in range(len(true)):
                errors.append({"model": name, "row": int(p["rows"][i]), "true": float(true[i]),
                               "predicted": float(pred[i]), "error": float(abs(pred[i] - true[i]))})
        report["largest_errors"] = sorted(errors, key=lambda e: -e["error"])[:worst]
        report["points"] = points
        report["mae"] = float(np.mean([e["error"] for e in errors]))
    return report
