"""The trained models in a run folder: `model.json` (versioned, no pickle) says how raw input becomes
a model input (CSV schema, class names, fitted preprocessing per model) and `weights/<name>.safetensors`
holds each model's weights, so a folder copied to another machine is a usable model.

Safetensors rather than `torch.save`: it stores tensors and nothing else, so loading a folder from
someone else can never run code, and other frameworks read it too.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import Preprocessing
from .folder import dumps, replace_atomic, write_atomic

MODEL_CARD_VERSION = 1


def preprocessing_to_dict(pre: Preprocessing) -> dict[str, Any]:
    def arr(a: np.ndarray | None) -> dict[str, Any] | None:
        # float32 -> Python float -> float32 is exact, so JSON keeps the statistics bit for bit.
        return None if a is None else {"shape": list(a.shape), "values": a.ravel().tolist()}

    return {"fill": arr(pre.fill), "mean": arr(pre.mean), "std": arr(pre.std)}


def preprocessing_from_dict(d: dict[str, Any]) -> Preprocessing:
    def arr(v: dict[str, Any] | None) -> np.ndarray | None:
        return None if v is None else np.asarray(v["values"], dtype=np.float32).reshape(v["shape"])

    return Preprocessing(arr(d.get("fill")), arr(d.get("mean")), arr(d.get("std")))


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
        save_weights(self.dir / "weights" / f"{name}.safetensors", state)
        self.card["models"][name] = {**info, "preprocessing": preprocessing_to_dict(pre)}
        write_atomic(self.dir / "model.json", dumps(self.card, indent=1) + "\n")


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    cpu = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    replace_atomic(path, lambda tmp: save_file(cpu, str(tmp)))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device="cpu")


def read_model_card(run_dir: Path) -> dict[str, Any]:
    from ..errors import InputError

    path = run_dir / "model.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir}: no model.json; the run saved no model (it was made by an "
                         "older dltui, or stopped before its first model)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable ({err})") from None
    if not isinstance(card, dict) or not isinstance(card.get("models"), dict):
        raise InputError(f"{path}: not a dltui model card")
    if card.get("version", 0) > MODEL_CARD_VERSION:
        raise InputError(f"{path}: version {card.get('version')} is newer than this dltui reads "
                         f"({MODEL_CARD_VERSION}); upgrade dltui")
    return card


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Plain arrays (never objects, so reading needs no pickle), written atomically."""
    replace_atomic(path, lambda tmp: np.savez(tmp, **arrays), suffix=".tmp.npz")


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
