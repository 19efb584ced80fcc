"""Which device to train on: `auto` picks CUDA when there is one."""

from __future__ import annotations

import re

import torch

from ..errors import InputError


def resolve_device(text: str) -> torch.device:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise InputError(f"device '{text}': allowed: auto, cpu, cuda, cuda:N")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"train.device: '{text}' asked for, but this machine has no CUDA "
                             "device (torch sees none); use 'cpu' or 'auto'")
        index = int(text.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"train.device: '{text}': only {torch.cuda.device_count()} CUDA "
                             f"device(s), numbered from 0")
    return torch.device(text)


def available_devices() -> list[str]:
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
