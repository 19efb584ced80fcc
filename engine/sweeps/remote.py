"""Sweep variants trained away from this process: one worker process per local GPU
(`--devices cuda:0,cuda:1`), or Ray tasks on a cluster (`--backend ray`). Both use the same
protocol: a worker trains one group of variants (those that stack train as one model, as they
would locally) into a scratch folder, sends every event back through a
queue (Ray's `ray.util.queue.Queue`, or a multiprocessing queue), and returns the folder's files;
this process writes them into the sweep folder exactly as a local run would, so `watch`, `predict`
and the runs screen cannot tell the difference. A worker that dies marks its variant failed and
the sweep goes on.
"""

from __future__ import annotations

import os
import queue as stdlib_queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..events import Event, RunEnded, event_from_dict
from ..runs.folder import RunWriter, new_run_dir
from .plan import Variant
from .runner import SweepRunner

# Fault injection for tests: the worker training this variant index exits abruptly.
KILL_ENV = "DLTUI_SWEEP_KILL_VARIANT"


def payload(variant: Variant, base_dir: Path | None) -> dict[str, Any]:
    """What a worker needs: the preset as TOML and, for a CSV/NPZ source, the file's bytes (a
    cluster node need not see this machine's files)."""
    from ..data.dataset import resolve_path
    from ..presets import preset_to_toml

    kind, _, ref = variant.preset.data.source.partition(":")
    data = None
    if kind in ("csv", "npz", "parquet", "feather"):
        data = (kind, resolve_path(ref, base_dir).read_bytes())
    return {"index": variant.index, "toml": preset_to_toml(variant.preset), "data": data}


def train_group(jobs: list[dict[str, Any]], device: str | None,
                put: Callable[[Any], None]) -> dict[int, dict[str, bytes]]:
    """Runs in the worker: train a group of variants (one stacked model when they share an
    architecture, as locally), stream their events tagged with the variant's index, and return
    each variant's run folder files."""
    from ..events import EventBus
    from ..preflight import prepare
    from ..presets import parse_toml, validate_preset
    from ..stacking.variants import train_jointly
    from ..train.experiment import Experiment

    if any(os.environ.get(KILL_ENV) == str(job["index"]) for job in jobs):
        os._exit(17)
    with tempfile.TemporaryDirectory(prefix="dltui-variants-") as scratch:
        experiments = []
        for job in jobs:
            raw = parse_toml(job["toml"], "variant")
            if job["data"] is not None:
                kind, blob = job["data"]
                path = Path(scratch) / f"data-{job['index']}.{kind}"
                path.write_bytes(blob)
                raw["data"]["source"] = f"{kind}:{path}"
            bus = EventBus()
            bus.subscribe(lambda e, i=job["index"]: put((i, e.to_dict())))
            runs = Path(scratch) / f"runs-{job['index']}"
            experiments.append(Experiment(prepare(validate_preset(raw, "variant"), None, device), runs, bus))
        if len(experiments) == 1:
            experiments[0].run()
        else:
            for experiment in experiments:
                experiment.begin()
            train_jointly(experiments)
            for job, experiment in zip(jobs, experiments, strict=True):
                experiment.note["stacked_with"] = [j["index"] for j in jobs if j is not job]
                experiment.complete(None)
        out = {}
        for job, experiment in zip(jobs, experiments, strict=True):
            run_dir = experiment.run_dir
            assert run_dir is not None
            skip = ("metrics.jsonl", "summary.json", ".writer.lock")  # written here, not copied
            out[job["index"]] = {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*")
                                 if p.is_file() and p.name not in skip}
        return out


class RemoteSweep(SweepRunner):
    """The sweep runner with variants trained by workers; `submit(job, device)` starts one and
    returns a handle, `poll_done` says which handles finished (with files or an error)."""

    def __init__(self, *args: Any, backend: Any,
                 when_gone: Callable[[str, dict[str, Any]], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backend = backend
        # Called (from the backend's watchdog thread) once the sweep's table is written after
        # its cluster went away: the CLI prints one line and exits, while the main thread may
        # still be blocked in a call to the dead cluster.
        self.when_gone = when_gone
        self.gone: str | None = None  # why the backend went away mid-sweep
        self._landing = threading.Lock()

    def run(self, preps: list[Any] | None = None) -> dict[str, Any]:
        preps = preps if preps is not None else self.prepare_all()
        self.started = time.perf_counter()
        self.start(preps)
        assert self.dir is not None
        self.variants = {v.index: v for v in self.plan.variants}
        writers: dict[int, RunWriter] = {}
        dirs: dict[int, Path] = {}
        summaries: dict[int, dict[str, Any]] = {}
        self.writers, self.dirs, self.summaries = writers, dirs, summaries
        self.retried: set[int] = set()
        from ..stacking.variants import joint_groups

        # One task per group of variants that stack (as locally), so a GPU trains them at once.
        pending: dict[Any, list[int]] = {}
        self.pending = pending
        for group in joint_groups(preps, self.plan.prune):
            jobs = [payload(self.plan.variants[i], self.base_dir) for i in group]
            pending[self.backend.submit(jobs)] = [self.plan.variants[i].index for i in group]
        if hasattr(self.backend, "watch"):
            self.backend.watch(self._abandon)
        while pending and not self.gone:
            self._drain()
            for handle, files, error in self.backend.poll_done(list(pending)):
                with self._landing:
                    if self.gone:
                        break
                    group = pending.pop(handle)
                    if error and len(group) > 1 and worker_died(error):
                        self._drain()  # every event the dead attempt sent, before its folders go
                        # A stacked group whose worker died: each variant again on its own, so
                        # the one that kills its worker fails alone and the others finish.
                        self.retried.update(group)
                        for index in group:
                            self._restart(index)
                            job = [payload(self.variants[index], self.base_dir)]
                            pending[self.backend.submit(job)] = [index]
                        continue
                    for index in group:
                        self._land(self.variants[index], dirs, writers, summaries,
                                   (files or {}).get(index), error)
            if self.stop.requested:
                self.backend.cancel(list(pending))
            time.sleep(0.05)
        with self._landing:
            return self.result if self.gone else self.finish(self.started)

    def _abandon(self, gone: str) -> None:
        """The cluster went away: every variant still out is failed, the rest are kept. The
        main thread may be blocked inside a Ray call while it lands a variant: after a few
        seconds this goes on without it."""
        held = self._landing.acquire(timeout=5)
        try:
            self.gone = gone
            for group in list(self.pending.values()):
                for index in group:
                    self._land(self.variants[index], self.dirs, self.writers, self.summaries,
                               None, gone)
            self.pending.clear()
            self.result = self.finish(self.started)
        finally:
            if held:
                self._landing.release()
        if self.when_gone is not None:
            self.when_gone(gone, self.result)

    def _restart(self, index: int) -> None:
        """A variant trains again from scratch: its run folder starts over."""
        writer = self.writers.pop(index, None)
        if writer is not None:
            writer.close()
            shutil.rmtree(self.dirs.pop(index), ignore_errors=True)
        self.summaries.pop(index, None)

    def _drain(self) -> None:
        """Every event the workers sent so far, each to its variant's run folder (whichever
        variant it is for: a group's variants finish together)."""
        assert self.dir is not None
        for index, data in self.backend.events():
            event = event_from_dict(data)
            if event is None:
                continue
            variant = self.variants[index]
            if index not in self.writers:
                self.dirs[index] = new_run_dir(self.dir, variant.preset.name)
                self.writers[index] = RunWriter(self.dirs[index])
                self.emit_started(variant, self.dirs[index])
            if isinstance(event, RunEnded):
                self.summaries[index] = event.summary
            self.writers[index](_relocated(event, self.dirs[index]))
            if self.inner is not None:
                self.inner(variant, event)

    def emit_started(self, variant: Variant, run_dir: Path) -> None:
        from ..events import VariantStarted

        self.emit(VariantStarted(variant.index, variant.label, variant.changes, str(run_dir)))

    def _land(self, variant: Variant, dirs: dict[int, Path], writers: dict[int, RunWriter],
              summaries: dict[int, dict[str, Any]], files: dict[str, bytes] | None,
              error: str | None) -> None:
        """A finished worker's files into its run folder; a dead one's variant marked failed."""
        from ..runs.folder import dumps, write_atomic

        index = variant.index
        for _ in range(100):  # the events of its last lines may still be in the queue
            self._drain()
            if index in summaries or error:
                break
            time.sleep(0.05)
        if index not in dirs:
            dirs[index] = new_run_dir(self.dir, variant.preset.name)  # type: ignore[arg-type]
            self.emit_started(variant, dirs[index])
        run_dir = dirs[index]
        for name, blob in (files or {}).items():
            target = run_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        summary = summaries.get(index)
        if summary is None or error:
            summary = {**(summary or {}), "status": "failed",
                       "message": f"the worker training this variant died: {error}"}
        write_atomic(run_dir / "summary.json", dumps({**summary, "run_dir": str(run_dir)}, indent=2) + "\n")
        if index in writers:
            writers[index].close()
        self.finish_variant(variant, run_dir, summary)


def _relocated(event: Event, run_dir: Path) -> Event:
    """The worker's scratch path in run_started replaced by the folder it lands in here."""
    import dataclasses

    from ..events import RunStarted

    if isinstance(event, RunStarted):
        return dataclasses.replace(event, run_dir=str(run_dir), pid=0)
    return event


DEATHS = ("WorkerDied", "WorkerCrashedError", "ActorDiedError", "NodeDiedError",
          "OutOfMemoryError", "BrokenProcessPool")


def worker_died(error: str) -> bool:
    """The error says the process training a group died, not that training itself failed."""
    return any(name in error for name in DEATHS)


class _Handle:
    """One submitted group: its jobs, its device and the future of its current attempt."""

    def __init__(self, jobs: list[dict[str, Any]], device: str) -> None:
        self.jobs, self.device = jobs, device
        self.future: Any = None
        self.died = False  # its worker process died while training it


class ProcessBackend:
    """One worker process per device, each its own single-worker pool from the standard library:
    a worker that dies (killed, out of memory) breaks only its device's pool, so only the group it
    was training fails; the pool is rebuilt and the groups queued behind it train on."""

    def __init__(self, devices: list[str]) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")  # no forked torch state in the workers
        self.manager = self.ctx.Manager()
        self.queue = self.manager.Queue()
        self.devices = devices
        self.pools = {d: self._pool() for d in dict.fromkeys(devices)}
        self.queued: dict[str, list[_Handle]] = {d: [] for d in self.pools}
        self._n = 0

    def _pool(self) -> Any:
        import concurrent.futures

        return concurrent.futures.ProcessPoolExecutor(1, mp_context=self.ctx)

    def submit(self, job: list[dict[str, Any]]) -> Any:
        device = self.devices[self._n % len(self.devices)]
        self._n += 1
        handle = _Handle(job, device)
        handle.future = self.pools[device].submit(train_group, job, device, self.queue.put)
        self.queued[device].append(handle)
        return handle

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except stdlib_queue.Empty:
                return out

    def _recover(self, device: str) -> None:
        """The device's worker died: the group it was training (the first unfinished one, as a
        one-worker pool takes them in order) fails; the rest go to a new worker."""
        from concurrent.futures.process import BrokenProcessPool

        waiting = [h for h in self.queued[device] if not (h.future.done() and not isinstance(
            h.future.exception(), BrokenProcessPool))]
        if not waiting:
            return
        waiting[0].died = True
        self.pools[device].shutdown(wait=False, cancel_futures=True)
        self.pools[device] = self._pool()
        for h in waiting[1:]:
            h.future = self.pools[device].submit(train_group, h.jobs, device, self.queue.put)
        self.queued[device] = waiting[1:]

    def poll_done(self, handles: list[Any]) -> list[tuple[Any, dict[str, bytes] | None, str | None]]:
        from concurrent.futures.process import BrokenProcessPool

        for device in self.pools:
            if any(h.future.done() and not h.died and isinstance(h.future.exception(), BrokenProcessPool)
                   for h in self.queued[device]):
                self._recover(device)
        done = []
        for h in handles:
            if h.died:
                done.append((h, None, "WorkerDied: its worker process died (killed, or out of "
                                      "memory) while training it"))
            elif h.future.done():
                err = h.future.exception()
                done.append((h, None if err else h.future.result(),
                             f"{type(err).__name__}: {err}" if err else None))
        for h, _, _ in done:
            if h in self.queued[h.device]:
                self.queued[h.device].remove(h)
        return done

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            h.future.cancel()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self.manager.shutdown()
