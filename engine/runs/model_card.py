"""`model.json`'s schema: every field a reader uses, with its type, checked once when the file is
read (pydantic, as presets are), so a damaged or edited card is one line naming the field, never
a KeyError deep inside predict. Model names are the run's own (`final`, `r0-f2`): a name cannot
point a reader at a file outside the run folder."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

MODEL_NAME = r"^(final|r\d{1,4}-f\d{1,4})$"
Positive = Annotated[StrictInt, Field(ge=1)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ArrayDoc(_Doc):
    shape: list[Annotated[StrictInt, Field(ge=0)]]
    values: list[StrictFloat | StrictInt | None]

    @model_validator(mode="after")
    def _sized(self) -> ArrayDoc:
        if len(self.values) != math.prod(self.shape):
            raise ValueError(f"{len(self.values)} values for shape {self.shape}")
        return self


class PreprocessingDoc(_Doc):
    fill: ArrayDoc | None = None
    mean: ArrayDoc | None = None
    std: ArrayDoc | None = None
    means: ArrayDoc | None = None


class ModelDoc(_Doc):
    preprocessing: PreprocessingDoc
    complete: StrictBool = True
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    epochs_run: StrictInt | None = None


class ColumnDoc(_Doc):
    name: StrictStr
    kind: Literal["number", "text"]
    categories: list[StrictStr] = []


class SchemaDoc(_Doc):
    features: list[ColumnDoc]
    target: StrictStr
    target_kind: Literal["number", "text"]
    dropped: list[StrictStr] = []
    missing: Literal["error", "drop", "zero", "mean"]


class ModelCardDoc(_Doc):
    version: Annotated[StrictInt, Field(ge=0)]
    task: Literal["binary", "multiclass", "regression", "sequence"]
    classes: list[StrictStr]
    input_shape: Annotated[list[Positive], Field(min_length=1, max_length=8)]
    x_dtype: Literal["int64", "float32"] = "float32"
    layout: StrictStr = "channels_last"
    schema_: SchemaDoc | None = Field(None, alias="schema")
    feature_names: list[StrictStr] = []
    models: dict[Annotated[StrictStr, Field(pattern=MODEL_NAME)], ModelDoc]


def problem(err: Any) -> str:
    """A pydantic error as `field: what is wrong`, the first one."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    return f"{where}: {first['msg']}"
