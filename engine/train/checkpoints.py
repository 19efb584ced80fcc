"""Checkpoints, so a stopped, killed or failed run can resume and end as if never interrupted:
at the end of an epoch, the model(s), the optimizer state, every random generator the next epoch
draws from, and the loop's bookkeeping (history, best epoch, early-stopping counters).

`checkpoints/<tag>.safetensors` holds the tensors and, in its metadata, the loop's bookkeeping as
JSON: one file renamed into place, so a checkpoint is whole or absent.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..runs.folder import dumps, replace_atomic

CHECKPOINT_VERSION = 2  # 2: one flat optimizer state (dltui's own optimizer)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def check_version(meta: dict[str, Any], path: Path) -> None:
    """A checkpoint another dltui version wrote (another optimizer state layout) is refused."""
    if meta.get("version") != CHECKPOINT_VERSION:
        raise InputError(f"{path}: written by another dltui version (checkpoint version "
                         f"{meta.get('version')}, this one reads {CHECKPOINT_VERSION}); it "
                         "cannot be resumed: run the preset again")


@dataclass
class Checkpointer:
    """Writes a trainee's checkpoint every `every` epochs (0: when 10 s have passed since the
    last one, so short epochs do not pay for it) and reads one back."""

    folder: Path
    tag: str
    every: int = 0
    min_seconds: float = 10.0

    def __post_init__(self) -> None:
        self._last = time.monotonic()

    def due(self, epoch: int) -> bool:
        if self.every:
            return epoch % self.every == 0
        return time.monotonic() - self._last >= self.min_seconds

    def save(self, trainee: Any, loop: dict[str, Any], best: list[dict[str, torch.Tensor] | None]) -> None:
        from safetensors.torch import save_file

        self.folder.mkdir(exist_ok=True)
        tensors = {f"net.{k}": v for k, v in trainee.net.state_dict().items()}
        opt_tensors, opt_meta = _optimizer_tensors(trainee.opt)
        tensors.update(opt_tensors)
        for i, g in enumerate(trainee.generators):
            tensors[f"gen.{i}"] = g.get_state()
        tensors["rng.cpu"] = torch.get_rng_state()
        if torch.cuda.is_available() and trainee.net_device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(trainee.net_device)
        for i, state in enumerate(best):
            if state is not None:
                tensors.update({f"best.{i}.{k}": v for k, v in state.items()})
        cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        # The loop's bookkeeping travels in the file's own metadata: one file, renamed into
        # place, so a kill can never pair the tensors of one epoch with the counters of another.
        meta = dumps({"version": CHECKPOINT_VERSION, "optimizer": opt_meta, **loop})
        replace_atomic(self.folder / f"{self.tag}.safetensors",
                       lambda tmp: save_file(cpu, str(tmp), metadata={"dltui": meta}))
        self._last = time.monotonic()

    def load(self, trainee: Any) -> tuple[dict[str, Any], list[dict[str, torch.Tensor] | None]] | None:
        """Restore the trainee from this tag's checkpoint; returns the loop's bookkeeping and the
        best states kept for restore_best, or None when there is no finished checkpoint."""
        from safetensors import safe_open

        path = self.folder / f"{self.tag}.safetensors"
        try:
            with safe_open(str(path), framework="pt") as fh:
                loop = json.loads((fh.metadata() or {})["dltui"])
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except Exception:  # safetensors' own error, no metadata, bad JSON: not a checkpoint
            return None
        check_version(loop, path)
        dev = trainee.net_device
        try:
            trainee.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
            trainee.opt.load_state_dict(_optimizer_state(
                {k: v.to(dev) for k, v in tensors.items() if k.startswith("opt.")},
                loop.pop("optimizer")))
            for i, g in enumerate(trainee.generators):
                g.set_state(tensors[f"gen.{i}"])
            torch.set_rng_state(tensors["rng.cpu"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            # resume_state checked the file's keys; what is left is a checkpoint of another
            # model (an edited preset): say so instead of a KeyError from deep inside.
            first = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise InputError(f"{path}: does not fit this run's model ({first}); delete it to "
                             "restart that training") from None
        if "rng.cuda" in tensors and dev.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], dev)
        best: list[dict[str, torch.Tensor] | None] = [None] * len(loop["history"])
        for name, value in tensors.items():
            if name.startswith("best."):
                _, i, key = name.split(".", 2)
                slot = best[int(i)] = best[int(i)] or {}
                slot[key] = value.to(dev)
        return loop, best

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            (self.folder / f"{self.tag}.safetensors").unlink()
