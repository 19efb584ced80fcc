"""Events the engine emits while it trains. Every face (rich printer, JSON lines, the app, `watch`)
consumes these same types; each is one JSON line in `metrics.jsonl`."""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: fields are plain values and dicts of floats, and asdict's deep
        # copy was a measurable share of an epoch for small models.
        return {"event": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_dir: str
    preset: str
    scheme: str
    trainings: int
    epochs: int
    device: str
    data: str
    task: str
    params: int
    metrics: list[str]
    parallel: str  # "" when folds train one after another, else how many at once
    pid: int = 0  # the writing process, so a reader on the same machine can tell it died
    learning_rate: float = 0.0
    threads: int = 0  # CPU threads for the arithmetic, and why that many
    threads_why: str = ""
    started_at: float = 0.0  # wall clock (Unix seconds): `watch` counts elapsed time from it


@dataclass(frozen=True)
class Notice(Event):
    """A warning or a hint: the book's advice applied to this run (redundancy, time order...)."""

    kind: ClassVar[str] = "notice"
    level: str  # "warning" | "hint"
    code: str
    message: str
    epoch: int = 0  # a curve diagnosis: the epoch it starts at, for the charts to mark


@dataclass(frozen=True)
class FoldStarted(Event):
    kind: ClassVar[str] = "fold_started"
    repeat: int
    fold: int
    train_size: int
    val_size: int


@dataclass(frozen=True)
class EpochEnded(Event):
    kind: ClassVar[str] = "epoch"
    repeat: int
    fold: int
    epoch: int  # 1-based, as the book counts
    epochs: int
    train: dict[str, float]
    val: dict[str, float]
    seconds: float
    samples_per_s: float
    lr: float | None = None  # the learning rate of this epoch (it moves under a schedule)


@dataclass(frozen=True)
class BatchProgress(Event):
    """Throttled progress inside an epoch; not written to the run folder."""

    kind: ClassVar[str] = "batch"
    repeat: int
    fold: int
    epoch: int
    batch: int
    batches: int


@dataclass(frozen=True)
class FoldEnded(Event):
    kind: ClassVar[str] = "fold_ended"
    repeat: int
    fold: int
    train_size: int
    val_size: int
    best_epoch: int
    epochs_run: int
    best: dict[str, float]
    last: dict[str, float]
    test: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunEnded(Event):
    kind: ClassVar[str] = "run_ended"
    status: str  # done | stopped | diverged | failed
    message: str
    seconds: float
    summary: dict[str, Any]


@dataclass(frozen=True)
class SweepStarted(Event):
    kind: ClassVar[str] = "sweep_started"
    sweep_dir: str
    preset: str
    variants: int
    trainings: int  # over all variants
    epochs: int
    keys: list[str]
    mode: str
    prune: bool
    metric: str
    pid: int = 0  # the sweep's process, so a reader on the same machine can tell it died
    started_at: float = 0.0  # wall clock (Unix seconds): the sweep screen's elapsed time


@dataclass(frozen=True)
class VariantStarted(Event):
    kind: ClassVar[str] = "variant_started"
    index: int
    label: str
    changes: dict[str, Any]
    run_dir: str


@dataclass(frozen=True)
class VariantEnded(Event):
    kind: ClassVar[str] = "variant_ended"
    index: int
    label: str
    status: str  # done | stopped | pruned | failed | diverged
    metric: str
    mean: float | None
    std: float | None
    best_epoch: int
    seconds: float
    run_dir: str


@dataclass(frozen=True)
class SweepEnded(Event):
    kind: ClassVar[str] = "sweep_ended"
    status: str
    seconds: float
    table: dict[str, Any]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (RunStarted, Notice, FoldStarted, EpochEnded, BatchProgress,
                              FoldEnded, RunEnded, SweepStarted, VariantStarted, VariantEnded,
                              SweepEnded)
}


# Control characters (C0 but tab and newline, DEL, C1): an escape sequence in a message a file
# carries could retitle or clear the terminal that prints it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: Any) -> Any:
    """Strings (and the strings inside lists and dicts) without control characters: everything a
    run folder says passes through this before any face shows it."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event read back from `metrics.jsonl`; unknown lines are skipped, not fatal."""
    data = printable(data)
    cls = EVENT_TYPES.get(str(data.get("event")))
    if cls is None:
        return None
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if not _fits(str(f.type), value):
            return None  # a line of the wrong shape is skipped, like an unreadable one
        if isinstance(value, dict):  # strict JSON wrote NaN as null
            value = {k: math.nan if v is None else v for k, v in value.items()}
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        return None


_PLAIN = {"int": (int,), "float": (int, float), "str": (str,), "list[str]": (list,),
          "dict[str, float]": (dict,), "dict[str, Any]": (dict,)}


def _fits(annotation: str, value: Any) -> bool:
    kinds = _PLAIN.get(annotation)
    if kinds is None:
        return True
    if isinstance(value, bool) and annotation in ("int", "float"):
        return False
    if annotation == "dict[str, float]" and isinstance(value, dict):
        return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                   for v in value.values())
    return isinstance(value, kinds)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        if fn in self._subscribers:
            self._subscribers.remove(fn)

    def emit(self, event: Event) -> None:
        for fn in self._subscribers:
            fn(event)


class StopToken:
    """A stop request, honoured by the loop at the next batch; safe to set from any thread or a
    signal handler."""

    def __init__(self) -> None:
        self._flag = threading.Event()

    def request(self) -> None:
        self._flag.set()

    @property
    def requested(self) -> bool:
        return self._flag.is_set()
