"""The preset, validated: pydantic models for the data, model, train and validation sections.

Validation happens once, here, when a preset is read; the rest of the engine trusts these objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .model.fields import no_bool_numbers
from .model.layers import AnyLayer

LossName = Literal[
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "mse", "mae", "ctc",
]
OptimizerName = Literal["rmsprop", "sgd", "adam", "adamw"]
MetricName = Literal["accuracy", "mae", "mse", "ser", "sequence_accuracy"]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
# numpy and scikit-learn take seeds below 2**32; torch takes them too.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _strict_numbers = field_validator("*", mode="before")(classmethod(no_bool_numbers))


class DataSpec(_Section):
    source: Annotated[str, Field(pattern=r"^(builtin|csv|npz|npy|parquet|feather):.+$")]
    task: Literal["auto", "binary", "multiclass", "regression", "sequence"] = "auto"
    normalize: bool = True
    time_ordered: bool = False
    # built-in sets
    view: Literal["flat", "image"] = "flat"
    samples: Annotated[int, Field(ge=20, le=2_000_000)] | None = None
    noise: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    timesteps: Annotated[int, Field(ge=2, le=10_000)] | None = None
    features: Annotated[int, Field(ge=2, le=4096)] | None = None
    classes: Annotated[int, Field(ge=2, le=1000)] | None = None
    vocab_size: Annotated[int, Field(ge=4, le=1_000_000)] | None = None
    vectorize: Literal["none", "multi_hot"] = "none"  # token ids -> the book's multi-hot vectors
    # A set that comes with its own test set (the book's): "source" keeps it as the test part,
    # "pooled" puts its rows with the rest for validation.test_fraction to carve.
    split: Literal["source", "pooled"] = "source"
    seed: Seed = 0
    # files
    target: str | None = None
    drop: list[str] = []
    missing: Literal["error", "drop", "zero", "mean"] = "error"
    layout: Literal["channels_last", "channels_first"] = "channels_last"


class ModelSpec(_Section):
    layers: Annotated[list[AnyLayer], Field(min_length=1)]


class LRSchedule(_Section):
    """How the learning rate moves from epoch to epoch (`[train.lr_schedule]`), per model."""

    kind: Literal["reduce_on_plateau", "step", "exponential", "cosine"]
    # reduce_on_plateau, as Keras's ReduceLROnPlateau: the rate times `factor` once the
    # validation loss has not improved by `min_delta` for `patience` epochs
    factor: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    patience: Annotated[int, Field(ge=1)] = 10
    min_delta: Annotated[float, Field(ge=0.0)] = 1e-4
    cooldown: Annotated[int, Field(ge=0)] = 0
    min_lr: Annotated[float, Field(ge=0.0)] = 0.0  # also cosine's floor
    step_size: Annotated[int, Field(ge=1)] = 10  # step: times gamma every step_size epochs
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] | None = None  # step 0.1, exponential 0.95
    warmup: Annotated[int, Field(ge=0)] = 0  # cosine: epochs rising linearly to the rate

    @model_validator(mode="after")
    def _only_its_own_settings(self) -> Self:
        own = {"reduce_on_plateau": {"factor", "patience", "min_delta", "cooldown", "min_lr"},
               "step": {"step_size", "gamma"}, "exponential": {"gamma"},
               "cosine": {"min_lr", "warmup"}}[self.kind]
        fields = type(self).model_fields  # a written-out preset repeats the defaults: fine
        stray = sorted(f for f in self.model_fields_set - own - {"kind"}
                       if getattr(self, f) != fields[f].default)
        if stray:
            raise ValueError(f"{stray[0]}: not a setting of the {self.kind} schedule "
                             f"(it takes {', '.join(sorted(own))})")
        return self


class TrainSpec(_Section):
    loss: LossName
    optimizer: OptimizerName = "rmsprop"
    learning_rate: Annotated[float, Field(gt=0.0, le=10.0)] = 1e-3
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    # Where rmsprop and adam put epsilon: Keras's form (the book's), or torch.optim's.
    update_rule: Literal["keras", "torch"] = "keras"
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    lr_schedule: LRSchedule | None = None
    metrics: list[MetricName] = []
    epochs: Annotated[int, Field(ge=1, le=100_000)] = 20
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 32
    seed: Seed = 0
    device: Annotated[str, Field(pattern=DEVICE_PATTERN)] = "auto"
    amp: bool = False
    patience: Annotated[int, Field(ge=1)] | None = None
    restore_best: bool = False
    # Epochs between checkpoints for `dltui resume`; 0: every epoch that ends 10 s or more after
    # the last checkpoint, so fast epochs do not pay for writing one.
    checkpoint_every: Annotated[int, Field(ge=0)] = 0
    # CPU threads for the arithmetic; unset: one for small models, every core for big ones.
    threads: Annotated[int, Field(ge=1, le=1024)] | None = None
    # Replay each training step as one captured CUDA graph (small models on a GPU are bound by
    # kernel launches); CUDA only, rmsprop or plain sgd.
    cuda_graphs: bool = False
    # A ctc target longer than the model's output timesteps allow can never be aligned: refuse
    # the data ("error"), or leave those samples out with a warning ("skip").
    ctc_unalignable: Literal["error", "skip"] = "error"


class ValidationSpec(_Section):
    scheme: Literal["holdout", "kfold", "iterated-kfold"] = "holdout"
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    test_fraction: Fraction = 0.0
    shuffles: Annotated[int, Field(ge=1, le=1000)] = 1
    k: Annotated[int, Field(ge=2, le=100)] = 4
    repeats: Annotated[int, Field(ge=1, le=100)] = 3
    stratify: bool = True
    shuffle: bool | None = None  # None: shuffle unless the data is time-ordered
    dedupe: bool = False
    final_fit: bool = False
    smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    parallel_folds: bool = True

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> Self:
        if self.scheme == "holdout" and self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} "
                "leaves no training data; they must sum to less than 1")
        return self


class Preset(_Section):
    name: Annotated[str, Field(min_length=1, max_length=80)] = "preset"
    description: str = ""
    data: DataSpec
    model: ModelSpec
    train: TrainSpec
    validation: ValidationSpec = ValidationSpec()
    # Keys to vary and the values to try (`dltui sweep`); checked by engine/sweep.py.
    sweep: dict[str, Any] = {}
