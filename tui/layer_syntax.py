"""The layer editor's one-line syntax: `Dense 16 relu`, `Conv2D 32 3 relu padding=same`,
`Dropout 0.5`. Positional values fill each type's main fields in order; `key=value` sets any field.
`TimeDistributed Conv2D 8 3` wraps the layer that follows. The result is validated by the same
pydantic layer specs that presets use."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import TypeAdapter, ValidationError

from dltui.engine.model.layers import LAYER_TYPES, AnyLayer, LayerSpec

POSITIONAL: dict[str, list[str]] = {
    "Dense": ["units", "activation"],
    "Conv2D": ["filters", "kernel_size", "activation"],
    "MaxPool2D": ["pool_size"],
    "Dropout": ["rate"],
    "LSTM": ["units"],
    "GRU": ["units"],
    "Embedding": ["input_dim", "output_dim"],
    "Activation": ["activation"],
}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyLayer)
_BY_LOWER = {name.lower(): name for name in LAYER_TYPES}


class LayerSyntaxError(ValueError):
    pass


def parse_value(text: str) -> Any:
    """A typed word: true/false, an int, a float, or the text itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_layer(text: str) -> LayerSpec:
    words = text.split()
    if not words:
        raise LayerSyntaxError("type a layer, e.g. 'Dense 16 relu'")
    kind = _BY_LOWER.get(words[0].lower())
    if kind is None:
        close = difflib.get_close_matches(words[0], list(LAYER_TYPES), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise LayerSyntaxError(f"unknown layer '{words[0]}': {hint}(one of {', '.join(LAYER_TYPES)})")
    if kind == "TimeDistributed":  # `TimeDistributed Conv2D 8 3 relu`: the rest is the layer
        return _ADAPTER.validate_python({"type": kind, "layer": parse_layer(" ".join(words[1:]))})
    fields: dict[str, Any] = {"type": kind}
    slots = list(POSITIONAL.get(kind, []))
    for word in words[1:]:
        key, sep, val = word.partition("=")
        if sep:
            fields[key] = parse_value(val)
        elif slots:
            fields[slots.pop(0)] = parse_value(word)
        else:
            raise LayerSyntaxError(f"{kind}: unexpected '{word}' (use key=value)")
    try:
        return _ADAPTER.validate_python(fields)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][1:]) or kind
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            known = sorted(LAYER_TYPES[kind].model_fields)
            msg = f"unknown setting (allowed: {', '.join(k for k in known if k != 'type')})"
        raise LayerSyntaxError(f"{kind} {loc}: {msg}") from None


def parse_varied_layer(text: str) -> tuple[LayerSpec, dict[str, list[Any]]]:
    """`Dense 4,16,64 relu` or `Dense 16 relu l2=0,0.01`: the layer with each varied field at its
    first value, and the values a sweep tries for those fields."""
    varied: dict[str, list[Any]] = {}
    words = text.split()
    kind = _BY_LOWER.get(words[0].lower()) if words else None
    slots = list(POSITIONAL.get(kind or "", []))
    plain = words[:1]
    for word in words[1:]:
        key, sep, val = word.partition("=")
        name = key if sep else (slots.pop(0) if slots else "")
        value = val if sep else word
        if "," in value and name:
            varied[name] = [parse_value(v) for v in value.split(",") if v]
            value = value.split(",")[0]
        plain.append(f"{key}={value}" if sep else value)
    layer = parse_layer(" ".join(plain))
    for name, values in varied.items():  # every value must make a valid layer, not just the first
        for v in values:
            parse_layer(" ".join(w if w.split("=")[0] != name else f"{name}={v}" for w in plain)
                        if f"{name}=" in " ".join(plain) else _with_slot(plain, kind, name, v))
    return layer, varied


def _with_slot(words: list[str], kind: str | None, name: str, value: Any) -> str:
    slots = POSITIONAL.get(kind or "", [])
    out = list(words)
    out[1 + slots.index(name)] = str(value)
    return " ".join(out)


def format_layer(layer: LayerSpec) -> str:
    """The inverse of parse_layer: what the editor shows for an existing layer."""
    kind = layer.type  # type: ignore[attr-defined]
    if kind == "TimeDistributed":
        return f"TimeDistributed {format_layer(layer.layer)}"  # type: ignore[attr-defined]
    data = layer.model_dump(exclude_defaults=True)
    parts = [kind]
    for slot in POSITIONAL.get(kind, []):
        if slot in data:
            parts.append(str(data.pop(slot)))
        else:
            break
    data.pop("type", None)
    parts += [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in data.items()]
    return " ".join(parts)


def short_label(layer: LayerSpec) -> str:
    """A layer in few columns for an 80-column table, every setting that shapes it kept:
    `Conv2D 16 3x3/1 same relu`, `LSTM 48 seq bi`, `TD MaxPool2D 2x2/2`."""
    d: Any = layer
    kind = d.type
    act = "" if getattr(d, "activation", "linear") == "linear" else f" {d.activation}"
    reg = "".join(f" {k}={getattr(d, k):g}" for k in ("l1", "l2") if getattr(d, k, 0))
    if kind == "Dense":
        return f"Dense {d.units}{act}{reg}"
    if kind == "Conv2D":
        pad = " same" if d.padding == "same" else ""
        return f"Conv2D {d.filters} {d.kernel_size}x{d.kernel_size}/{d.strides}{pad}{act}{reg}"
    if kind == "Conv3D":
        pad = " same" if d.padding == "same" else ""
        k = d.kernel_size
        return f"Conv3D {d.filters} {k}x{k}x{k}{pad}{act}"
    if kind == "MaxPool2D":
        return f"MaxPool2D {d.pool_size}x{d.pool_size}/{d.strides or d.pool_size}"
    if kind == "MaxPool3D":
        return f"MaxPool3D {d.pool_size}"
    if kind in ("LSTM", "GRU"):
        flags = (" seq" if d.return_sequences else "") + (" bi" if d.bidirectional else "")
        return f"{kind} {d.units}{flags}{reg}"
    if kind == "Embedding":
        return f"Embedding {d.input_dim}→{d.output_dim}"
    if kind == "TimeDistributed":
        return f"TD {short_label(d.layer)}"
    if kind == "Dropout":
        return f"Dropout {d.rate:g}"
    if kind == "Activation":
        return f"Activation {d.activation}"
    if kind == "GlobalAveragePooling":
        return "GlobalAvgPool"
    return kind
