"""Checks of command-line options that more than one command takes, done before the engine (and
torch) is imported, so a typo fails at once."""

from __future__ import annotations


def check_device(device: str | None) -> None:
    import re

    from dltui.engine.errors import InputError
    from dltui.engine.spec import DEVICE_PATTERN

    if device is not None and not re.match(DEVICE_PATTERN, device):
        raise InputError(f"--device {device}: allowed: auto, cpu, cuda, cuda:N")
