"""Python's cycle collector around a command's start-up and exit.

Start-up (torch, pandas, typer, a data set) makes over a million objects that live as long as
the process. The collector walks them again and again while they are made, and once more at exit:
0.2 s after `import torch` alone, about 0.5 s after a 1M-row run (bench/RESULTS.md). Objects
frozen (`gc.freeze`) are skipped by every later collection; reference counting still frees
everything that is not in a cycle, so nothing a run writes depends on the collector.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


@cache
def freeze_at_exit() -> None:
    """At exit, freeze what is left instead of walking it: the process is going, its memory with
    it (once per process, however often main() runs in it, as in the tests)."""
    atexit.register(gc.freeze)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No collections while the block imports and loads; what it made frozen afterwards, so the
    training loop's collections walk only what the loop makes. The collector's state is restored
    (a test calling the CLI in-process keeps its own). The block's own cyclic garbage (7,000
    small objects of typing and import machinery after a CSV run: no arrays) is frozen with it."""
    was_enabled = gc.isenabled()
    # What is garbage now is collected first, not frozen with the rest (cheap at a process's
    # start; in a process that ran other work, as tests do, it keeps their garbage collectable).
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
