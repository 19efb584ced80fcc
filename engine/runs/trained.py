"""Use what a run trained: `load_run(folder)` gives a model that predicts from raw input (a CSV with
the training columns, an NPZ, or an array) through the preprocessing each model was fitted with,
and evaluates itself on new labelled data, the book's "test once, at the end".

    import dltui.engine as dl
    model = dl.load_run("runs/20261125-101500-binary-breast-cancer")
    model.predict("new.csv").labels  # and .probabilities(), .columns() for a table
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..data.tables.reader import TABLE_SUFFIXES
from ..errors import InputError
from ..model.build import Net, build_model
from ..model.layers import Shape
from ..model.shapes import infer_shapes
from ..spec import Preset
from .missing import Gaps, resolve_gaps
from .predictions import Inputs, Predictions, model_outputs


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
        except UnicodeDecodeError:
            raise InputError(f"{preset_path}: not UTF-8 text (the file was changed or damaged)") from None
        self.preset: Preset = validate_preset(parse_toml(text, str(preset_path)), str(preset_path))
        try:
            # The model's output shape, once: the class list and evaluate's labels check against it.
            self.output_shape: Shape = infer_shapes(self.preset.model.layers,
                                                    tuple(self.card["input_shape"]))[-1]
        except InputError as err:
            raise InputError(f"{preset_path}: the model no longer fits the data it was trained "
                             f"on ({err})") from None
        self.task: str = self.card["task"]
        self.classes: list[str] = list(self.card.get("classes", []))
        self.input_shape: Shape = tuple(self.card["input_shape"])
        self.nets: dict[str, tuple[Net, Preprocessing]] = {}
        # Models whose training a stop cut short: never used unless resumed to the end.
        self.unfinished: dict[str, str] = {}
        self.last_notes: list[str] = []
        for name, info in self.card["models"].items():
            path = self.dir / "weights" / f"{name}.safetensors"
            if not path.exists():
                continue
            if info.get("complete") is False:
                self.unfinished[name] = (f"stopped after {info.get('epochs_run', '?')} of "
                                         f"{self.preset.train.epochs} epochs")
                continue
            net = build_model(self.preset.model.layers, self.input_shape)
            try:
                net.load_state_dict(load_weights(path, info.get("sha256")))
            except RuntimeError as err:  # names or shapes that are not this preset's model
                first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
                raise InputError(f"{path}: the weights do not fit the model in preset.toml "
                                 f"({first[:160]})") from None
            pre = preprocessing_from_dict(info["preprocessing"])
            self._check_preprocessing(pre, name)
            self.nets[name] = (net, pre)
        self._check_outputs()
        if not self.nets:
            unfinished = f" ({', '.join(self.unfinished)} unfinished: `dltui resume` completes " \
                "them)" if self.unfinished else ""
            raise InputError(f"{self.dir}: the run saved no finished model yet{unfinished}")

    def _check_preprocessing(self, pre: Preprocessing, name: str) -> None:
        """Statistics that cannot apply to the model's input (a cut mean, a wrong shape) would
        broadcast silently into wrong numbers."""
        for field_name in ("fill", "mean", "std", "means"):
            values = getattr(pre, field_name)
            if values is None:
                continue
            try:
                fits = np.broadcast_shapes(values.shape, self.input_shape) == self.input_shape
            except ValueError:
                fits = False
            if not fits:
                raise InputError(f"{self.dir / 'model.json'}: models.{name}.preprocessing."
                                 f"{field_name} has shape {list(values.shape)}, which does not "
                                 f"fit the input shape {list(self.input_shape)}")

    def _check_outputs(self) -> None:
        """The class list against what the model outputs: a cut list would index past its end."""
        units = self.output_shape[-1]
        want = {"binary": (1, 2), "multiclass": (len(self.classes),),
                "sequence": (len(self.classes),)}.get(self.task)
        if want is not None and (units not in want or (self.task == "binary" and len(self.classes) != 2)):
            raise InputError(f"{self.dir / 'model.json'}: classes lists {len(self.classes)} "
                             f"class(es) but the model outputs {units} value(s) per sample")

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
        if model in self.unfinished:
            raise InputError(f"--model {model}: its training {self.unfinished[model]}; "
                             f"`dltui resume {self.dir}` completes it")
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
        table = read_any(path)
        # Gaps stay NaN here: the predict-time rule (missing.py) decides per row, so no row is
        # dropped and none refuses the whole file.
        data = encode(table, dataclasses.replace(schema, missing="mean"), need_target=need_target)
        y = None
        if data.y_raw is not None and need_target:
            y = self._encode_y(data.y_raw, str(path))
        known = {c.name for c in schema.features} | {schema.target, *schema.dropped}
        ignored = [h for h in table.header if h not in known]
        notes = list(data.notes)
        if ignored:
            notes.append(f"ignored: {', '.join(ignored)} (not columns the model was trained on)")
        return Inputs(data.x, y, data.rows, notes)

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
    def outputs(self, name: str, x: np.ndarray, gaps: Gaps | None = None) -> np.ndarray:
        net, pre = self.nets[name]
        if gaps is not None and gaps.fill_zero:
            x = np.nan_to_num(x, nan=0.0)
        return model_outputs(net, pre.filling() if gaps is not None and gaps.fill_means else pre, x)

    def _usable(self, inp: Inputs, missing: str | None, where: str) -> tuple[Inputs, Gaps]:
        """The input rows the models can take under the missing-value rule, and what was done."""
        rule = (self.card.get("schema") or {}).get("missing") or self.preset.data.missing
        names = list(self.card.get("feature_names") or [])
        gaps = resolve_gaps(inp.x, inp.rows, names, rule, missing, where)
        if gaps.keep.all():
            return inp, gaps
        y = None if inp.y is None else inp.y[gaps.keep]
        return Inputs(inp.x[gaps.keep], y, inp.rows[gaps.keep], inp.notes), gaps

    def models_note(self, names: list[str]) -> str:
        """Which models a prediction used, and any left out, in words."""
        left = [f"{n} ({why})" for n, why in self.unfinished.items()]
        used = f"the mean of {len(names)} fold models ({', '.join(names)})" if len(names) > 1 \
            else f"model {names[0]}"
        return f"predictions are {used}" + (f"; left out, unfinished: {', '.join(left)}"
                                            if left else "")

    def predict(self, source: str | Path | np.ndarray, model: str | None = None,
                missing: str | None = None) -> Predictions:
        names = self.resolve(model)
        inp, gaps = self._usable(self.inputs(source), missing, str(source))
        self.last_notes = inp.notes
        outs = np.mean([self.outputs(n, inp.x, gaps) for n in names], axis=0) if len(names) > 1 \
            else self.outputs(names[0], inp.x, gaps)
        label = "ensemble" if len(names) > 1 else names[0]
        decoded = None
        if self.task == "sequence":
            from ..model.metrics import greedy_decode

            decoded = [" ".join(self.classes[s] for s in seq)
                       for seq in greedy_decode(torch.from_numpy(outs))]
        return Predictions(inp.rows, outs.astype(np.float32), self.task, self.classes, label,
                           decoded, gaps.reasons)

    def _check_target(self, x: np.ndarray, y: np.ndarray, where: str) -> None:
        """Labels of the shape the model's outputs can be scored against; broadcasting would
        score (N, 3) labels against (N, 1) outputs without a word."""
        if len(y) != len(x):
            raise InputError(f"{where}: {len(y)} target value(s) for {len(x)} sample(s)")
        if self.task == "regression":
            outputs = int(np.prod(self.output_shape))
            width = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
            if width != outputs:
                raise InputError(f"{where}: targets of shape {tuple(y.shape[1:]) or '()'} per "
                                 f"sample, but the model predicts {outputs} value(s) per sample")
        elif self.task in ("binary", "multiclass") and y.ndim != 1:
            raise InputError(f"{where}: targets of shape {tuple(y.shape)}; a classification "
                             "run is scored against one class label per sample")

    def evaluate(self, source: str | Path | np.ndarray, model: str | None = None,
                 y: np.ndarray | None = None, missing: str | None = None) -> dict[str, Any]:
        """Loss and metrics of each chosen model on labelled data, their mean and std, and for
        several fold models the ensemble's metrics (from the mean of their outputs)."""
        from ..data.preprocess import target_array
        from ..model.losses import LOSSES
        from ..model.metrics import METRICS

        names = self.resolve(model)
        inp = self.inputs(source, need_target=y is None)
        if y is not None:
            inp = Inputs(inp.x, np.asarray(y), inp.rows, inp.notes)
        if inp.y is None:
            raise InputError(f"{source}: no target values to evaluate against (column "
                             f"'{(self.card.get('schema') or {}).get('target', 'y')}' or array 'y')")
        self._check_target(inp.x, inp.y, str(source))
        inp, gaps = self._usable(inp, missing, str(source))
        if gaps.reasons:
            inp.notes.append(f"{len(gaps.reasons)} row(s) with missing values not scored "
                             f"(first: row {min(gaps.reasons)}: {gaps.reasons[min(gaps.reasons)]})")
        if not len(inp.x):
            raise InputError(f"{source}: no row left to score")
        target = inp.y
        assert target is not None
        loss = LOSSES[self.preset.train.loss]
        metrics = list(self.preset.train.metrics)
        yt = torch.from_numpy(target_array(target, loss.target, len(self.classes)))
        rows = []
        for name in names:
            net, pre = self.nets[name]
            with torch.no_grad():
                net.eval()
                x = np.nan_to_num(inp.x, nan=0.0) if gaps.fill_zero else inp.x
                ready = (pre.filling() if gaps.fill_means else pre).apply(x)
                logits = net(torch.from_numpy(np.ascontiguousarray(ready))).float()
                values = {"loss": float(loss.mean(logits, yt, net.head))}
                for m in metrics:
                    values[m] = float(METRICS[m](logits, yt, net.head, loss.target, 1).mean())
            rows.append({"model": name, **values})
        keys = ["loss", *metrics]
        out: dict[str, Any] = {"samples": len(inp.x), "models": rows, "notes": inp.notes,
                               "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
                               "std": {k: float(np.std([r[k] for r in rows])) for k in keys}}
        if len(names) > 1 and self.task != "sequence":
            out["ensemble"] = ensemble_scores(np.mean([self.outputs(n, inp.x, gaps) for n in names], axis=0),
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
