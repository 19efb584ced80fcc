"""How many CPU threads a run's arithmetic uses. torch's default (one per core) helps only when
each operation is big enough to split and the cores are free: a small model's step is a hundred
tiny operations whose thread hand-offs cost more than they save, and with one busy neighbour on
a 2-core machine a second thread made runs 3.5-10x slower, while one thread was unaffected. So
small models get one thread; big ones as many threads as cores are free when the run starts
(measured from the kernel's idle counters over a few tens of milliseconds), and the first epoch
is checked for contention (the process got fewer cores' worth of CPU time than it has threads)
and the count lowered if so. `train.threads` overrides. The count does not change results: a
matmul or convolution splits its output, not its sums, across threads (tested bit for bit).
Thresholds measured in bench/RESULTS.md."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

# Multiply-adds per batch (forward) below which one thread was faster on a 2-core machine:
# 1.1M: 0.98x, 3.3M: 0.86x, 21.6M: 0.63x of one thread's step time with two.
SMALL_STEP_MACS = 2_000_000
# A thread needs this much of a core to itself to be worth keeping (a second thread sharing a
# core with a neighbour made steps 3.5x slower, so half a core free is not enough).
CORE_FREE = 0.7


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    why: str


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), capped by torch's default."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    return max(1, min(allowed, _TORCH_DEFAULT))


def free_cores(sample_s: float = 0.04) -> float | None:
    """How many of this process's cores sat idle over a short sample (while this thread
    sleeps, so its own work does not count), from /proc/stat; else from the load average; None
    where neither exists."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = None
    before = _cpu_times(allowed)
    if before is not None:
        time.sleep(sample_s)
        after = _cpu_times(allowed)
        if after is not None:
            idle = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
            total = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
            if total > 0:
                return len(after) * idle / total
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return max(0.0, usable_cores() - load)


def choose_threads(requested: int | None, macs_per_step: int, device: torch.device,
                   available: int | None = None, free: float | None = None) -> ThreadChoice:
    """`available`/`free`: the cores, and how many are idle (measured when not given)."""
    cores = available or usable_cores()
    if requested:
        return ThreadChoice(requested, "train.threads")
    if device.type == "cuda":
        return ThreadChoice(cores, "the GPU does the arithmetic")
    per_batch = f"{macs_per_step / 1e6:.2g}M multiply-adds per batch"
    if macs_per_step < SMALL_STEP_MACS or cores == 1:
        return ThreadChoice(1, f"small steps: {per_batch}")
    if free is None:
        free = free_cores()
    if free is None:
        return ThreadChoice(cores, per_batch)
    threads = max(1, min(cores, int(free + 1 - CORE_FREE)))
    busy = f"{free:.1f} of {cores} cores free"
    if threads < cores:
        return ThreadChoice(threads, f"{per_batch}, but only {busy} (busy neighbours)")
    return ThreadChoice(threads, f"{per_batch}, {busy}")


class ContentionCheck:
    """Compares the CPU time the process got over the first epoch with the threads it ran: a
    neighbour that took a core since the start shows as less than one core's worth per thread."""

    def __init__(self, threads: int, cpu: float | None = None, wall: float | None = None) -> None:
        self.threads = threads
        self.restart(cpu, wall)
        self.done = threads <= 1

    def restart(self, cpu: float | None = None, wall: float | None = None) -> None:
        """Count from now (a training starts: what came before it was not the epoch's)."""
        self.cpu0 = _cpu_clock() if cpu is None else cpu
        self.wall0 = _wall_clock() if wall is None else wall

    def after_first_epoch(self, cpu: float | None = None,
                          wall: float | None = None) -> ThreadChoice | None:
        """The lower thread count and why, once, if the epoch showed contention; else None."""
        if self.done:
            return None
        self.done = True
        cpu = _cpu_clock() if cpu is None else cpu
        wall = _wall_clock() if wall is None else wall
        if wall - self.wall0 < 0.2:  # too short to tell a neighbour from start-up noise
            return None
        got = (cpu - self.cpu0) / (wall - self.wall0)
        threads = max(1, min(self.threads, int(got + 1 - CORE_FREE)))
        if threads >= self.threads:
            return None
        return ThreadChoice(threads, f"the first epoch got {got:.1f} cores' worth of CPU time for "
                                     f"{self.threads} threads (busy neighbours)")


def _cpu_times(allowed: set[int] | None) -> list[tuple[int, int]] | None:
    """(idle, total) jiffies per allowed CPU, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            lines = [ln.split() for ln in f if ln.startswith("cpu") and ln[3:4].isdigit()]
    except OSError:
        return None
    out = []
    for fields in lines:
        if allowed is not None and int(fields[0][3:]) not in allowed:
            continue
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        out.append((values[3] + values[4], sum(values)))
    return out or None


_cpu_clock = time.process_time  # every thread of the process
_wall_clock = time.perf_counter

# torch's own default, read before any run changes it (runs set the count process-wide).
_TORCH_DEFAULT = torch.get_num_threads()
