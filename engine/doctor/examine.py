"""The model doctor, before training: the book's rules for the last layer, the loss, the network's
size and the evaluation protocol, checked against a preset and its data. Each finding has an id,
a severity, the key it concerns, a one-line message, the book's reason, and where one exists a fix
expressed as preset changes (`{"train.loss": "mse"}`) that `apply_fix` makes.

Every face shows the same findings: `dltui check`, the notices before `dltui run`, and the app's
doctor panel beside the layer or setting concerned.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..data.checks import output_activation
from ..errors import InputError
from ..model.layers import ShapeError
from ..model.pairing import LOSS_KINDS, check_pairing, head_of, n_outputs_for
from ..spec import Preset

SEVERITIES = ("error", "warning", "hint")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str  # error | warning | hint
    where: str  # the preset key it concerns: "train.loss", "model.layers[2]", "validation"
    message: str
    why: str
    fix: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Case:
    """What the checks look at: the preset, its data (None when it does not load) and the output
    shapes of the layers (None when they do not fit)."""

    preset: Preset
    data: Any
    shapes: list[tuple[int, ...]] | None
    skip: frozenset[str] = frozenset()  # finding ids the caller checks better itself

    @property
    def layers(self) -> list[Any]:
        return list(self.preset.model.layers)

    @property
    def last(self) -> str:
        return f"model.layers[{len(self.layers) - 1}]"


Check = Callable[[Case], list[Finding]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def _last_layer_fix(case: Case, units: int, activation: str) -> dict[str, Any]:
    """Changes that give the model the last layer a task needs, when that layer is a Dense."""
    if not case.layers or case.layers[-1].type != "Dense":
        return {}
    return {f"{case.last}.units": units, f"{case.last}.activation": activation}


@check
def output_and_loss(case: Case) -> list[Finding]:
    if case.data is None or case.shapes is None or not case.layers:
        return []
    data, loss = case.data, LOSS_KINDS[case.preset.train.loss]
    head = head_of(case.layers, data.input_shape)
    n_out = n_outputs_for(data, loss)
    problem = check_pairing(loss, data.task, case.shapes[-1], head, n_out,
                            output_activation(case.layers))
    if not problem:
        return []
    fixes = {
        "binary": {"train.loss": "binary_crossentropy", **_last_layer_fix(case, 1, "sigmoid")},
        "multiclass": {"train.loss": "sparse_categorical_crossentropy",
                       **_last_layer_fix(case, len(data.classes), "softmax")},
        "regression": {"train.loss": "mse",
                       **_last_layer_fix(case, 1 if data.y.ndim == 1 else data.y.shape[1], "linear")},
    }
    fix = fixes.get(data.task, {})
    numbers = all(c.lstrip("-").replace(".", "", 1).isdigit() for c in data.classes)
    if "regression" in loss.tasks and data.task in ("binary", "multiclass") and numbers \
            and case.preset.data.task == "auto":
        # Integer values read as classes: with a regression loss the user most likely means
        # a quantity; the fix is the task, not the loss.
        problem = (f"the target holds {len(data.classes)} distinct whole numbers, so it was "
                   f"read as {data.task} classes, which {loss.name} does not fit: if it is a "
                   "quantity, set data.task = 'regression'; if it is classes, "
                   + problem.split("; use ", 1)[-1].join(("use ", "")))
        fix = {"data.task": "regression"}
    return [Finding("output-loss", "error", "train.loss", problem,
                    "The book: the last layer and the loss follow from the task. Binary: one "
                    "sigmoid unit and binary crossentropy; N classes: N softmax units and "
                    "(sparse) categorical crossentropy; scalar regression: one unit with no "
                    "activation and MSE.", fix)]


@check
def label_encoding(case: Case) -> list[Finding]:
    if case.data is None or case.preset.train.loss != "categorical_crossentropy":
        return []
    return [Finding("label-encoding", "hint", "train.loss",
                    "labels are integer class ids, one-hot encoded for categorical_crossentropy; "
                    "sparse_categorical_crossentropy takes them as they are",
                    "The book: the two losses compute the same thing; the sparse one saves the "
                    "one-hot copy of the labels.",
                    {"train.loss": "sparse_categorical_crossentropy"})]


_BOUNDED = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
            "relu": (0.0, math.inf), "elu": (-1.0, math.inf), "selu": (-1.7581, math.inf)}


def _range(lo: float, hi: float) -> str:
    return f"values of {lo:g} or more" if hi == math.inf else f"{lo:g} to {hi:g}"


@check
def bounded_output(case: Case) -> list[Finding]:
    if case.data is None or case.data.task != "regression" or not case.layers:
        return []
    act = output_activation(case.layers)
    if act not in _BOUNDED:
        return []
    lo, hi = _BOUNDED[act]
    y_lo, y_hi = float(np.min(case.data.y)), float(np.max(case.data.y))
    one_unit = act == "softmax" and case.shapes is not None and case.shapes[-1][-1] == 1
    if y_lo >= lo and y_hi <= hi and not one_unit:
        return []
    fix = {f"{case.last}.activation": "linear"} if case.layers[-1].type == "Dense" else {}
    says = ("a softmax over one unit always outputs exactly 1, whatever the input" if one_unit
            else f"the last layer's {act} can only output {_range(lo, hi)}")
    return [Finding("bounded-output", "warning", case.last,
                    f"{says}, but the target runs from {y_lo:.4g} to {y_hi:.4g}; for scalar "
                    "regression end with a Dense layer and no activation",
                    "The book: a scalar regression ends in a Dense layer with no activation; "
                    "applying an activation would constrain the range the output can take.", fix)]


_LINEAR = ("Dense", "Conv2D", "Conv3D")
_PASS_THROUGH = ("Dropout", "Flatten", "BatchNorm")


@check
def linear_stack(case: Case) -> list[Finding]:
    layers, out = case.layers, []
    for i, layer in enumerate(layers[:-1]):
        if layer.type not in _LINEAR or getattr(layer, "activation", "linear") != "linear":
            continue
        nxt = next((j for j in range(i + 1, len(layers)) if layers[j].type not in _PASS_THROUGH), None)
        if nxt is None or layers[nxt].type not in _LINEAR:
            continue
        out.append(Finding("linear-stack", "warning", f"model.layers[{i}]",
                           f"layer {i} ({layer.type}) has no activation and feeds layer {nxt} "
                           f"({layers[nxt].type}): together they are one linear map",
                           "The book: without an activation function like relu, a stack of Dense "
                           "layers can only learn linear transformations, and adding layers would "
                           "not extend the hypothesis space.",
                           {f"model.layers[{i}].activation": "relu"}))
    return out


@check
def bottleneck(case: Case) -> list[Finding]:
    if case.data is None or case.data.task != "multiclass":
        return []
    n, out = len(case.data.classes), []
    for i, layer in enumerate(case.layers[:-1]):
        if layer.type == "Dense" and layer.units < n:
            wider = 2 ** math.ceil(math.log2(n))
            out.append(Finding("bottleneck", "warning", f"model.layers[{i}]",
                               f"hidden layer {i} has {layer.units} units, fewer than the "
                               f"{n} classes: an information bottleneck",
                               "The book (Reuters, 46 classes): a 4-unit hidden layer drops "
                               "validation accuracy by about 8%; each layer can only pass on "
                               "what fits in its units, and what it drops is lost for good.",
                               {f"model.layers[{i}].units": wider}))
    return out


def _train_size(case: Case) -> int:
    v, n = case.preset.validation, len(case.data)
    held = n * v.test_fraction
    return int((n - held) * (1 - v.val_fraction)) if v.scheme == "holdout" \
        else int((n - held) * (v.k - 1) / v.k)


@check
def small_data(case: Case) -> list[Finding]:
    if case.data is None:
        return []
    v, n_train, out = case.preset.validation, _train_size(case), []
    if v.scheme == "holdout" and v.shuffles == 1 and n_train < 1000:
        # Time-ordered data is never reshuffled, so there the remedy is forward chaining.
        timed = case.data.time_ordered
        # Reshuffled hold-out needs shuffling: where it is off, K-fold is the remedy that works.
        unshuffled = timed or v.shuffle is False
        remedy = ("scheme = 'kfold' (forward chaining: every fold validates on a later stretch)"
                  if timed else "scheme = 'kfold' (shuffling is off, so reshuffled hold-out "
                  "splits would all be the same)" if unshuffled else
                  "validation.shuffles = 5 to see the spread, or scheme = 'kfold'")
        out.append(Finding("small-data", "hint", "validation.scheme",
                           f"only about {n_train} training samples: a single hold-out split gives "
                           f"a noisy estimate; try {remedy}",
                           "The book: with little data, the validation score depends a lot on which "
                           "samples land in the validation part; K-fold averages that away.",
                           {"validation.scheme": "kfold"} if unshuffled else {"validation.shuffles": 5}))
    if case.shapes is not None and n_train:
        from ..model.shapes import count_params

        params, shape = 0, case.data.input_shape
        for layer in case.layers:
            params += count_params(layer, shape)
            shape = layer.out_shape(shape)
        if params > 20 * n_train and n_train < 5000:
            out.append(Finding("big-network", "hint", "model.layers",
                               f"{params:,} parameters for about {n_train} training samples: "
                               "expect early overfitting",
                               "The book (Boston housing): the less training data, the worse "
                               "overfitting; a small network (one or two hidden layers of 64) "
                               "mitigates it.", {}))
    return out


@check
def feature_scales(case: Case) -> list[Finding]:
    d = case.data
    if d is None or case.preset.data.normalize or not np.issubdtype(d.x.dtype, np.floating) \
            or d.x.ndim != 2:
        return []
    with np.errstate(all="ignore"):
        spread = np.nanstd(d.x[:5000], axis=0)
    spread = spread[spread > 0]
    if len(spread) < 2 or spread.max() / spread.min() < 100:
        return []
    return [Finding("feature-scales", "warning", "data.normalize",
                    f"features differ in scale by {spread.max() / spread.min():.3g}x and "
                    "data.normalize = false",
                    "The book: feeding a network values of wildly different ranges makes learning "
                    "harder; normalise each feature (centre on 0, unit standard deviation), with "
                    "statistics from the training data only.", {"data.normalize": True})]


@check
def protocol(case: Case) -> list[Finding]:
    v, out = case.preset.validation, []
    if case.data is not None and case.data.time_ordered and v.shuffle:
        out.append(Finding("time-shuffle", "error", "validation.shuffle",
                           "the data is time-ordered, and validation.shuffle = true would train on "
                           "the future to predict the past",
                           "The book's arrow of time: when predicting the future from the past, "
                           "do not shuffle before splitting; the validation part must come after "
                           "the training part in time.", {"validation.shuffle": False}))
    if case.data is not None:
        n = len(case.data)
        val = n * v.val_fraction if v.scheme == "holdout" else n / v.k
        if val < 10:
            out.append(Finding("tiny-validation", "warning", "validation",
                               f"about {int(val)} validation samples: the score will be mostly noise",
                               "The book: a validation score is only as good as the number of "
                               "samples it averages over.", {"validation.scheme": "kfold"}))
        dups = 0 if "duplicates" in case.skip or v.dedupe else _duplicate_rows(case.data.x)
        if dups:
            out.append(Finding("duplicates", "warning", "validation.dedupe",
                               f"{dups} sample(s) repeat another exactly: copies can land in both "
                               "the training and the validation part",
                               "The book's redundancy warning: a sample in both parts makes the "
                               "validation score optimistic; make sure the parts are disjoint.",
                               {"validation.dedupe": True}))
    return out


_DUPLICATES: dict[int, int] = {}  # by id of a live array; forgotten when the array is freed


def _duplicate_rows(x: np.ndarray) -> int:
    """Rows equal to an earlier row; counted once per array (the app asks on every keystroke)."""
    key = id(x)
    if key not in _DUPLICATES:
        # 64-bit row hashes in numpy (no sorted copy of the data); the count is advice, and
        # two different rows sharing a hash is a 2^-64 event for data that is not adversarial.
        from ..data.checks import duplicate_count, row_hashes

        _DUPLICATES[key] = duplicate_count(row_hashes(x))
        weakref.finalize(x, _DUPLICATES.pop, key, None)
    return _DUPLICATES[key]


_USUAL_LR = {"rmsprop": (1e-5, 0.05), "adam": (1e-5, 0.05), "adamw": (1e-5, 0.05), "sgd": (1e-5, 1.0)}
_DEFAULT_LR = {"rmsprop": 1e-3, "adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}


@check
def learning_rate(case: Case) -> list[Finding]:
    t = case.preset.train
    lo, hi = _USUAL_LR[t.optimizer]
    if lo <= t.learning_rate <= hi:
        return []
    side = "high" if t.learning_rate > hi else "low"
    return [Finding("learning-rate", "warning", "train.learning_rate",
                    f"learning rate {t.learning_rate:g} is far too {side} for {t.optimizer} "
                    f"(usual: {lo:g} to {hi:g})",
                    "Too high and the loss oscillates or explodes; too low and training crawls. "
                    "The book trains with rmsprop at its default 1e-3.",
                    {"train.learning_rate": _DEFAULT_LR[t.optimizer]})]


def examine(preset: Preset, data: Any, skip: frozenset[str] = frozenset()) -> list[Finding]:
    """Every finding for this preset and data, errors first; `skip` leaves some out (a run
    counts duplicates exactly, per split, instead)."""
    from ..model.shapes import infer_shapes

    shapes, found = None, []
    if data is not None and preset.model.layers:
        try:
            shapes = infer_shapes(preset.model.layers, data.input_shape)
        except (InputError, ShapeError) as err:
            where = str(err).split(" ", 1)[0] if str(err).startswith("model.") else "model.layers"
            found.append(Finding("shapes", "error", where, str(err),
                                 "Each layer's input shape is the previous layer's output shape.",
                                 {}))
    case = Case(preset, data, shapes, skip)
    for fn in CHECKS:
        found += fn(case)
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


def apply_fix(raw: dict[str, Any], fix: dict[str, Any]) -> dict[str, Any]:
    """The raw preset with a finding's fix applied (the same key paths as `--set`)."""
    import copy

    from ..presets import set_value

    out = copy.deepcopy(raw)
    for key, value in fix.items():
        set_value(out, key, value)
    return out
