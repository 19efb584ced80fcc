"""Use what a run trained: `load_run(folder)` gives a model that predicts from raw input (a CSV with
the training columns, an NPZ, or an array) through the preprocessing each model was fitted with,
and evaluates itself on new labelled data, the book's "test once, at the end".

    import dltui.engine as dl
    model = dl.load_run("runs/20261125-101500-binary-imdb")
    model.predict("new.csv").labels  # and .probabilities(), .columns() for a table
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..data.tables.reader import TABLE_SUFFIXES
from ..errors import InputError
from ..model.build import Net, build_model
from ..model.layers import Shape
from ..spec import Preset

CHUNK = 4096


def model_outputs(net: Net, pre: Preprocessing, x: np.ndarray,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """What the model says for raw rows (all, or those at `rows`): probabilities (after
    sigmoid/softmax), values, or per-frame scores; computed on the CPU in chunks, the same way
    during training and after."""
    net.eval()
    outs = []
    n = len(x) if rows is None else len(rows)
    with torch.no_grad():
        for s in range(0, n, CHUNK):
            chunk = x[s:s + CHUNK] if rows is None else x[rows[s:s + CHUNK]]
            xb = torch.from_numpy(np.ascontiguousarray(pre.apply(chunk)))
            outs.append(net.predict(xb).float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


@dataclass
class Inputs:
    x: np.ndarray
    y: np.ndarray | None  # encoded like training (class ids, float values, symbol ids)
    rows: np.ndarray  # the row index in the source of each sample kept
    notes: list[str] = field(default_factory=list)


@dataclass
class Predictions:
    rows: np.ndarray
    outputs: np.ndarray  # probabilities (classification), values (regression), scores (ctc)
    task: str
    classes: list[str]
    model: str
    decoded: list[str] | None = None  # ctc: symbol strings

    @property
    def labels(self) -> list[str] | None:
        if self.task == "binary" and self.outputs.shape[-1] == 1:
            return [self.classes[int(p > 0.5)] for p in self.outputs[:, 0]]
        if self.task in ("binary", "multiclass"):
            return [self.classes[i] for i in self.outputs.argmax(-1)]
        return None

    def probabilities(self) -> np.ndarray:
        """One column per class, also for a binary model with one sigmoid output."""
        if self.task == "binary" and self.outputs.shape[-1] == 1:
            return np.concatenate([1 - self.outputs, self.outputs], axis=1)
        return self.outputs

    def columns(self) -> tuple[list[str], list[list[Any]]]:
        """Header and rows of the predictions table (what `dltui predict` writes as CSV)."""
        rows = [[int(r)] for r in self.rows]
        if self.task in ("binary", "multiclass"):
            header = ["row", "predicted", *[f"p({c})" for c in self.classes]]
            for row, label, probs in zip(rows, self.labels or [], self.probabilities(), strict=True):
                row += [label, *(float(p) for p in probs)]
        elif self.task == "sequence":
            header = ["row", "predicted"]
            for row, text in zip(rows, self.decoded or [], strict=True):
                row.append(text)
        else:
            values = self.outputs.reshape(len(self.outputs), -1)
            header = ["row", *(["predicted"] if values.shape[1] == 1 else
                               [f"predicted_{i}" for i in range(values.shape[1])])]
            for row, vals in zip(rows, values, strict=True):
                row += [float(v) for v in vals]
        return header, rows


class TrainedModel:
    """The models of one run folder (each fold's, and the final fit's) with their preprocessing."""

    def __init__(self, run_dir: Path) -> None:
        from ..presets import parse_toml, validate_preset
        from .model_files import load_weights, preprocessing_from_dict, read_model_card

        self.dir = Path(run_dir)
        self.card = read_model_card(self.dir)
        preset_path = self.dir / "preset.toml"
        try:
            text = preset_path.read_text(encoding="utf-8")
        except OSError as err:
            raise InputError(f"{preset_path}: cannot read ({err.strerror})") from None
        self.preset: Preset = validate_preset(parse_toml(text, str(preset_path)), str(preset_path))
        self.task: str = self.card["task"]
        self.classes: list[str] = list(self.card.get("classes", []))
        self.input_shape: Shape = tuple(self.card["input_shape"])
        self.nets: dict[str, tuple[Net, Preprocessing]] = {}
        for name, info in self.card["models"].items():
            path = self.dir / "weights" / f"{name}.safetensors"
            if not path.exists():
                continue
            net = build_model(self.preset.model.layers, self.input_shape)
            net.load_state_dict(load_weights(path))
            self.nets[name] = (net, preprocessing_from_dict(info["preprocessing"]))
        if not self.nets:
            raise InputError(f"{self.dir}: the run saved no model weights yet")

    # -- which model -----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.nets)

    def default_model(self) -> str:
        """The final fit when there is one, else the ensemble of the fold models (or the one)."""
        if "final" in self.nets:
            return "final"
        folds = [n for n in self.nets if n != "final"]
        return "ensemble" if len(folds) > 1 else folds[0]

    def resolve(self, model: str | None) -> list[str]:
        """Model names behind a choice: 'final', 'fold N' / 'rR-fN', 'ensemble', or None (default)."""
        model = (model or self.default_model()).strip()
        if model == "ensemble":
            folds = [n for n in self.nets if n != "final"]
            if not folds:
                raise InputError(f"--model ensemble: {self.dir} has no fold models")
            return folds
        if model.startswith("fold"):
            num = model.removeprefix("fold").strip()
            if not num.isdigit():
                raise InputError(f"--model {model}: expected 'fold N' with N a number")
            model = f"r0-f{num}"
        if model not in self.nets:
            raise InputError(f"--model {model}: no such model in {self.dir} (have: final, "
                             f"ensemble, fold N; saved: {', '.join(self.nets)})")
        return [model]

    # -- input -----------------------------------------------------------------------------
    def inputs(self, source: str | Path | np.ndarray, need_target: bool = False) -> Inputs:
        """Raw input -> model input rows, under the training data's rules and schema."""
        if isinstance(source, np.ndarray):
            return Inputs(self._check_shape(source.astype(self._dtype()), "the array"), None,
                          np.arange(len(source)))
        path = Path(source)
        if path.is_dir():  # an npy:FOLDER source: x.npy (memory-mapped) and y.npy
            from ..data.dataset import read_npy

            x, y, _ = read_npy(path, self.card.get("layout", "channels_last"),
                               need_y=need_target and (path / "y.npy").is_file())
            x = self._check_shape(np.asarray(x, dtype=self._dtype()), str(path))
            return Inputs(x, None if y is None else self._encode_y(np.asarray(y), str(path)),
                          np.arange(len(x)))
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.suffix.lower() in (".csv", *TABLE_SUFFIXES):
            return self._csv_inputs(path, need_target)
        if path.suffix.lower() == ".npz":
            from ..data.dataset import read_npz

            x, y = read_npz(path, self.card.get("layout", "channels_last"), need_y=need_target)
            x = self._check_shape(x.astype(self._dtype()), str(path))
            return Inputs(x, None if y is None else self._encode_y(np.asarray(y), str(path)),
                          np.arange(len(x)))
        raise InputError(f"{path}: expected a .csv, .parquet, .feather or .npz file, or a "
                         "folder with x.npy")

    def _dtype(self) -> type:
        return np.int64 if self.card.get("x_dtype") == "int64" else np.float32

    def _check_shape(self, x: np.ndarray, where: str) -> np.ndarray:
        if tuple(x.shape[1:]) != self.input_shape:
            raise InputError(f"{where}: samples of shape {tuple(x.shape[1:])}, but the model was "
                             f"trained on {self.input_shape}")
        return x

    def _csv_inputs(self, path: Path, need_target: bool) -> Inputs:
        from ..data.tables.encode import encode
        from ..data.tables.reader import read_any
        from ..data.tables.schema import TableSchema

        if not self.card.get("schema"):
            raise InputError(f"{path}: this run trained on {self.card.get('source', 'other data')}, "
                             "not a CSV; give an .npz with an array 'x'")
        schema = TableSchema.from_dict(self.card["schema"])
        data = encode(read_any(path), schema, need_target=need_target)
        y = None
        if data.y_raw is not None and need_target:
            y = self._encode_y(data.y_raw, str(path))
        return Inputs(data.x, y, data.rows, data.notes)

    def _encode_y(self, raw: np.ndarray, where: str) -> np.ndarray:
        if self.task == "regression":
            if not np.issubdtype(raw.dtype, np.number):
                raise InputError(f"{where}: the target is not numeric; the model is a regression")
            return raw.astype(np.float32)
        if self.task == "sequence":
            return raw.astype(np.int64)
        # Class names are str() of the training labels, so numeric labels compare the same way.
        text = np.array([str(v) for v in raw.tolist()])
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({t for t in text.tolist() if t not in index})
        if unknown:
            raise InputError(f"{where}: target class(es) {', '.join(map(repr, unknown[:5]))} were not "
                             f"in the training data (classes: {', '.join(self.classes)})")
        return np.array([index[t] for t in text.tolist()], dtype=np.int64)

    # -- predict and evaluate --------------------------------------------------------------
    def outputs(self, name: str, x: np.ndarray) -> np.ndarray:
        net, pre = self.nets[name]
        return model_outputs(net, pre, x)

    def predict(self, source: str | Path | np.ndarray, model: str | None = None) -> Predictions:
        names = self.resolve(model)
        inp = self.inputs(source)
        self.last_notes = inp.notes
        outs = np.mean([self.outputs(n, inp.x) for n in names], axis=0) if len(names) > 1 \
            else self.outputs(names[0], inp.x)
        label = "ensemble" if len(names) > 1 else names[0]
        decoded = None
        if self.task == "sequence":
            from ..model.metrics import greedy_decode

            decoded = [" ".join(self.classes[s] for s in seq)
                       for seq in greedy_decode(torch.from_numpy(outs))]
        return Predictions(inp.rows, outs.astype(np.float32), self.task, self.classes, label, decoded)

    def evaluate(self, source: str | Path | np.ndarray, model: str | None = None,
                 y: np.ndarray | None = None) -> dict[str, Any]:
        """Loss and metrics of each chosen model on labelled data, their mean and std, and for
        several fold models the ensemble's metrics (from the mean of their outputs)."""
        from ..data.preprocess import target_array
        from ..model.losses import LOSSES
        from ..model.metrics import METRICS

        names = self.resolve(model)
        inp = self.inputs(source, need_target=y is None)
        target = inp.y if y is None else y
        if target is None:
            raise InputError(f"{source}: no target values to evaluate against (column "
                             f"'{(self.card.get('schema') or {}).get('target', 'y')}' or array 'y')")
        loss = LOSSES[self.preset.train.loss]
        metrics = list(self.preset.train.metrics)
        yt = torch.from_numpy(target_array(target, loss.target, len(self.classes)))
        rows = []
        for name in names:
            net, pre = self.nets[name]
            with torch.no_grad():
                net.eval()
                logits = net(torch.from_numpy(np.ascontiguousarray(pre.apply(inp.x)))).float()
                values = {"loss": float(loss.mean(logits, yt, net.head))}
                for m in metrics:
                    values[m] = float(METRICS[m](logits, yt, net.head, loss.target, 1).mean())
            rows.append({"model": name, **values})
        keys = ["loss", *metrics]
        out: dict[str, Any] = {"samples": len(inp.x), "models": rows, "notes": inp.notes,
                               "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
                               "std": {k: float(np.std([r[k] for r in rows])) for k in keys}}
        if len(names) > 1 and self.task != "sequence":
            out["ensemble"] = ensemble_scores(np.mean([self.outputs(n, inp.x) for n in names], axis=0),
                                              target, self.task, metrics)
        return out


def ensemble_scores(probs: np.ndarray, y: np.ndarray, task: str, metrics: list[str]) -> dict[str, float]:
    """Metrics of averaged outputs (probabilities or values): there are no logits to average."""
    out: dict[str, float] = {}
    if task in ("binary", "multiclass"):
        predicted = (probs[:, 0] > 0.5).astype(np.int64) if probs.shape[-1] == 1 else probs.argmax(-1)
        if "accuracy" in metrics:
            out["accuracy"] = float(np.mean(predicted == y))
    else:
        err = probs.reshape(len(y), -1) - y.reshape(len(y), -1)
        if "mae" in metrics:
            out["mae"] = float(np.mean(np.abs(err)))
        if "mse" in metrics:
            out["mse"] = float(np.mean(err ** 2))
    return out


def load_run(run_dir: str | Path) -> TrainedModel:
    return TrainedModel(Path(run_dir))
