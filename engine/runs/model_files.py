"""The trained models in a run folder: `model.json` (versioned, no pickle) says how raw input becomes
a model input (CSV schema, class names, fitted preprocessing per model) and `weights/<name>.safetensors`
holds each model's weights, so a folder copied to another machine is a usable model.

Safetensors rather than `torch.save`: it stores tensors and nothing else, so loading a folder from
someone else can never run code, and other frameworks read it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from ..events import printable
from .folder import dumps, replace_atomic, write_atomic

MODEL_CARD_VERSION = 1


def preprocessing_to_dict(pre: Preprocessing) -> dict[str, Any]:
    def arr(a: np.ndarray | None) -> dict[str, Any] | None:
        # float32 -> Python float -> float32 is exact, so JSON keeps the statistics bit for bit.
        return None if a is None else {"shape": list(a.shape), "values": a.ravel().tolist()}

    return {"fill": arr(pre.fill), "mean": arr(pre.mean), "std": arr(pre.std),
            "means": arr(pre.means)}


def preprocessing_from_dict(d: dict[str, Any]) -> Preprocessing:
    def arr(v: dict[str, Any] | None) -> np.ndarray | None:
        return None if v is None else np.asarray(v["values"], dtype=np.float32).reshape(v["shape"])

    fill = arr(d.get("fill"))
    # Run folders from before `means` was kept: the fill is the training means where it exists.
    means = arr(d["means"]) if d.get("means") is not None else fill
    return Preprocessing(fill, arr(d.get("mean")), arr(d.get("std")), means)


class ModelCardWriter:
    """Keeps `model.json` up to date as models are saved (rewritten atomically each time)."""

    def __init__(self, run_dir: Path, card: dict[str, Any], keep: bool = False) -> None:
        """`keep`: a resumed run keeps the models it already saved."""
        self.dir = run_dir
        models = {}
        if keep:
            with contextlib.suppress(Exception):
                models = read_model_card(run_dir)["models"]
        self.card = {"version": MODEL_CARD_VERSION, **card, "models": models}
        write_atomic(run_dir / "model.json", dumps(self.card, indent=1) + "\n")

    def save(self, name: str, state: dict[str, torch.Tensor], pre: Preprocessing,
             info: dict[str, Any]) -> None:
        digest = save_weights(self.dir / "weights" / f"{name}.safetensors", state)
        self.card["models"][name] = {**info, "preprocessing": preprocessing_to_dict(pre),
                                     "sha256": digest}
        write_atomic(self.dir / "model.json", dumps(self.card, indent=1) + "\n")


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> str:
    """Write the weights atomically; returns the file's SHA-256, which model.json records so a
    changed or damaged file is refused before it is loaded."""
    from safetensors.torch import save

    cpu = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    blob = save(cpu)
    replace_atomic(path, lambda tmp: tmp.write_bytes(blob))
    return hashlib.sha256(blob).hexdigest()


def load_weights(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """A weight file's tensors, or one line saying what is wrong with it. Safetensors holds
    tensors and nothing else, so a pickle or a `torch.save` zip in its place is refused, never
    run."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from ..errors import InputError

    try:
        blob = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
        raise InputError(f"{path}: its SHA-256 is not the one model.json recorded: the file was "
                         "changed or damaged after training; not loaded")
    try:
        return load(blob)
    except (SafetensorError, ValueError, OSError) as err:
        raise InputError(f"{path}: not a safetensors weight file ({str(err).splitlines()[0]})") from None


def read_model_card(run_dir: Path) -> dict[str, Any]:
    from pydantic import ValidationError

    from ..errors import InputError
    from .model_card import ModelCardDoc, problem

    path = run_dir / "model.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir}: no model.json; the run saved no model yet (it stopped "
                         "before its first model finished, or an older dltui made it)") from None
    except RecursionError:
        raise InputError(f"{path}: unreadable (nested too deeply to be a model card)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable ({err})") from None
    if not isinstance(card, dict):
        raise InputError(f"{path}: not a dltui model card (not a JSON object)")
    version = card.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > MODEL_CARD_VERSION:
        raise InputError(f"{path}: version {version} is newer than this dltui reads "
                         f"({MODEL_CARD_VERSION}); upgrade dltui")
    try:
        ModelCardDoc.model_validate(card)
    except ValidationError as err:
        raise InputError(f"{path}: not a valid model card: {problem(err)}") from None
    return printable(card)


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Plain arrays (never objects, so reading needs no pickle), written atomically."""
    replace_atomic(path, lambda tmp: np.savez(tmp, **arrays), suffix=".tmp.npz")


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Plain arrays of an .npz the run wrote; one line when it is damaged (never a pickle)."""
    import zipfile

    from ..errors import InputError

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: unreadable ({why})") from None
