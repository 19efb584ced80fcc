"""Reading presets: TOML from a path or a shipped name, `--set key=value` overrides, and one-line
errors that name the file, the key path (`model.layers[2].units`) and what is allowed."""

from __future__ import annotations

import difflib
import importlib.resources
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import InputError
from .model.layers import LAYER_TYPES
from .spec import Preset


def shipped_presets() -> dict[str, Path]:
    """Presets that come with dltui, by name (file stem)."""
    root = importlib.resources.files("dltui.presets")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml")}


def find_preset(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_presets()
    stem = path.stem if path.suffix == ".toml" else str(name_or_path)
    if stem in shipped and path.parent == Path("."):
        return shipped[stem]
    if path.exists():
        raise InputError(f"{path}: is not a file")
    close = difflib.get_close_matches(stem, shipped, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InputError(f"{name_or_path}: no such preset file or shipped preset{hint}; "
                     f"shipped: {', '.join(sorted(shipped))}")


def read_preset_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # editors on Windows may add a BOM
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); TOML presets are UTF-8: "
                         "save the file as UTF-8") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None


def load_preset(name_or_path: str | Path, overrides: list[str] | None = None) -> tuple[Preset, Path]:
    """Read, override and validate a preset. Returns it with the file it came from."""
    path = find_preset(name_or_path)
    raw = parse_toml(read_preset_text(path), str(path))
    raw.setdefault("name", path.stem)
    for item in overrides or []:
        apply_override(raw, item)
    try:
        return Preset.model_validate(raw), path
    except ValidationError as err:
        raise InputError(f"{_blame(err, overrides or [], str(path))}: {describe_error(err)}") from None


def _blame(err: ValidationError, overrides: list[str], where: str) -> str:
    """The --set item that caused the first error (its key path is the error's or above it),
    else the preset file."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    bad = _key_path(tuple(errors[0]["loc"]))
    for item in overrides:
        key = item.partition("=")[0].strip()
        if bad == key or bad.startswith((f"{key}.", f"{key}[")) or key.startswith((f"{bad}.", f"{bad}[")):
            return f"--set {item}"
    return where


def preset_to_toml(preset: Preset) -> str:
    """The preset as TOML that `load_preset` reads back to an equal preset."""
    import tomli_w

    data = preset.model_dump(mode="json", exclude_none=True)
    if not data.get("sweep"):
        data.pop("sweep", None)
    return tomli_w.dumps(data)


def parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{where}: invalid TOML: {err}") from None
    except RecursionError:
        raise InputError(f"{where}: arrays or tables nested too deeply to be a preset") from None


def validate_preset(raw: dict[str, Any], where: str) -> Preset:
    try:
        return Preset.model_validate(raw)
    except ValidationError as err:
        raise InputError(f"{where}: {describe_error(err)}") from None


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply `section.key=value` (value in TOML syntax; bare words are strings) to the raw preset."""
    key, sep, value_text = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item}: expected KEY=VALUE, e.g. train.epochs=5")
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text
    try:
        set_value(raw, key, value)
    except KeyError:
        raise InputError(f"--set {item}: {key} does not exist in the preset") from None


def set_value(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set `section.key` or `model.layers[2].units` in a raw preset; KeyError when the path
    runs through something that is not there."""
    parts = [m.group(1) or int(m.group(2)) for m in _PATH_PART.finditer(key.strip())]
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        nxt: Any = [] if isinstance(parts[i + 1], int) else {}
        try:
            if isinstance(part, int):
                node = node[part]
            else:
                node = node.setdefault(part, nxt)
        except (IndexError, KeyError, TypeError, AttributeError):
            raise KeyError(key) from None
    try:
        node[parts[-1]] = value
    except (IndexError, TypeError):
        raise KeyError(key) from None


def _is_tag(loc: tuple[Any, ...], i: int) -> bool:
    """Whether loc[i] is a layer union's tag that pydantic adds (after a list index, or after
    TimeDistributed's `layer`), not a key the user wrote."""
    return i > 0 and loc[i] in LAYER_TYPES and (isinstance(loc[i - 1], int) or loc[i - 1] == "layer")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_tag(loc, i):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model whose fields live at `loc` (to suggest the closest valid key)."""
    cls: Any = Preset
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if _is_tag(loc, i):
            cls = LAYER_TYPES[part]
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return None
        cls = _inner_model(cls.model_fields[part].annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Unwrap list[...] / Optional[...] / Annotated[...] to the model inside, if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_model(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def describe_error(err: ValidationError, prefer: tuple[str, ...] = ()) -> str:
    """One line for the first problem pydantic found (fixing one at a time is the usual flow),
    or for the first one under `prefer` (the field the user is editing)."""
    errors = err.errors()
    # A misspelt key also shows up as the real key "missing": report the misspelling.
    errors = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")
    first = next((e for e in errors if tuple(e["loc"][:len(prefer)]) == prefer), errors[0]) \
        if prefer else errors[0]
    loc, kind, given = tuple(first["loc"]), first["type"], first.get("input")
    path = _key_path(loc)
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        allowed = f" (allowed: {', '.join(known)})" if known else ""
        return f"{path}: unknown key{hint}{allowed}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        given = given.get("type") if isinstance(given, dict) else given
        close = difflib.get_close_matches(str(given), list(LAYER_TYPES), n=1) if given else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = f"unknown layer type '{given}'" if given else "layer has no 'type'"
        return f"{path}.type: {what}{hint} (allowed: {', '.join(LAYER_TYPES)})"
    if kind == "too_short" and path == "model.layers":
        return "model.layers: the model has no layers yet; add one (e.g. Dense 16 relu)"
    msg = PLAIN.get(kind) or first["msg"].removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        msg = SOURCE_FORMS if path.endswith("source") else \
            f"not of the allowed form {first.get('ctx', {}).get('pattern', '')}"
    shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
    return f"{path}: {msg}{shown}"


SOURCE_FORMS = "write builtin:NAME, csv:PATH, npz:PATH or parquet:PATH"
# pydantic's wording, said as a user reads it (its own names the parser, not the field)
PLAIN = {
    "int_parsing": "a whole number is expected",
    "int_from_float": "a whole number is expected",
    "int_type": "a whole number is expected",
    "float_parsing": "a number is expected",
    "float_type": "a number is expected",
    "bool_parsing": "true or false is expected",
    "bool_type": "true or false is expected",
    "string_type": "text is expected",
    "list_type": "a list is expected, e.g. [\"accuracy\"]",
}
