"""Rules for the pydantic fields of layer specs and presets that pydantic's lax mode lacks."""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationInfo


def takes_bool(annotation: object) -> bool:
    """Whether a field's type admits true/false (bool, or a union or list with bool in it)."""
    if annotation is bool:
        return True
    return any(takes_bool(a) for a in typing.get_args(annotation))


def no_bool_numbers(cls: type[BaseModel], value: object, info: ValidationInfo) -> object:
    """TOML's true is Python's True, which pydantic would take as 1 for a number: strict."""
    field = cls.model_fields.get(info.field_name or "")
    if isinstance(value, bool) and field is not None and not takes_bool(field.annotation):
        raise ValueError("expected a number, not true/false")
    return value
