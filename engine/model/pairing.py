"""What a loss asks of the data and the model (the target form, the tasks it fits, the final
activation), and the check that a model and a loss fit a task. No torch here: the doctor and the
builder run these checks as the user types, before torch has loaded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .layer_base import channel_axis
from .layers import LayerSpec, Shape

if TYPE_CHECKING:
    from ..data.dataset import Dataset

Head = str | None  # "sigmoid", "softmax" or None: the final activation split off the model


@dataclass(frozen=True)
class LossKind:
    name: str
    target: str  # "column" (float, B x 1 or B x k), "index" (int class ids), "one_hot", "sequence"
    tasks: tuple[str, ...]
    head: Head  # the final activation this loss needs, or None for any


LOSS_KINDS: dict[str, LossKind] = {k.name: k for k in (
    LossKind("binary_crossentropy", "column", ("binary",), "sigmoid"),
    LossKind("categorical_crossentropy", "one_hot", ("binary", "multiclass"), "softmax"),
    LossKind("sparse_categorical_crossentropy", "index", ("binary", "multiclass"), "softmax"),
    LossKind("mse", "column", ("regression",), None),
    LossKind("mae", "column", ("regression",), None),
    LossKind("ctc", "sequence", ("sequence",), None),
)}

# The layers whose modules end with their activation's (see their build methods).
_ENDS_WITH_ACTIVATION = ("Dense", "Conv2D", "Conv3D", "Activation")


def head_of(layers: Sequence[LayerSpec], in_shape: Shape) -> Head:
    """The final sigmoid/softmax the built model splits off as its head (model/build.py's Net),
    read from the specs: only when it is the very last module, and a softmax only over the last
    axis (over an image's channels it is not a classifier's head)."""
    if not layers or layers[-1].type not in _ENDS_WITH_ACTIVATION:  # type: ignore[attr-defined]
        return None
    activation = getattr(layers[-1], "activation", "linear")
    if activation == "sigmoid":
        return "sigmoid"
    if activation != "softmax":
        return None
    shape = in_shape
    for layer in layers:
        shape = layer.out_shape(shape)
    return "softmax" if channel_axis(shape) == len(shape) - 1 else None


_ADVICE = {
    "binary": "binary_crossentropy with a final Dense(1, activation='sigmoid')",
    "multiclass": "sparse_categorical_crossentropy (integer labels) or categorical_crossentropy "
                  "(one-hot) with a final Dense(n_classes, activation='softmax')",
    "regression": "mse or mae with a final Dense(1) and no activation",
    "sequence": "ctc with per-timestep scores: a last layer of shape (timesteps, symbols + 1)",
}


def n_outputs_for(data: Dataset, loss: LossKind) -> int:
    """Units the last layer needs for this data under this loss."""
    if data.task == "regression":
        return 1 if data.y.ndim == 1 else int(data.y.shape[1])
    return 1 if loss.target == "column" else len(data.classes)  # sequence: symbols + blank


def check_pairing(loss: LossKind, task: str, out_shape: Shape, head: Head, n_outputs: int,
                  activation: str = "linear") -> str | None:
    """Why this loss cannot train this model on this task, or None when it can. `activation`:
    the model's last activation, as the user wrote it (`head` is only sigmoid/softmax)."""
    if task not in loss.tasks:
        return f"{loss.name} does not fit a {task} target; use {_ADVICE[task]}"
    if loss.name == "ctc" and len(out_shape) != 2:
        return (f"ctc needs per-timestep scores (timesteps, {n_outputs}); the model outputs "
                f"{out_shape}: keep the time axis (return_sequences = true) and end with "
                f"Dense({n_outputs})")
    if loss.head is not None and head != loss.head:
        ends = head or (activation if activation != "linear" else "no activation")
        return (f"{loss.name} needs a final {loss.head} activation, the model ends with "
                f"{ends}; use {_ADVICE[task]}")
    if head == "softmax" and out_shape[-1] == 1:
        return ("a softmax over one unit always outputs exactly 1, whatever the input; use "
                f"{_ADVICE[task]}")
    if out_shape[-1] != n_outputs:
        return (f"the model outputs {out_shape[-1]} value(s) per sample but the {task} target "
                f"needs {n_outputs} for {loss.name}")
    return None
