"""Where the live view's events come from: a run trained in a thread of this process, or a run
folder that another process writes (or wrote). Both are polled by the view's timer, so the
training thread never waits on drawing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from dltui.engine.events import BatchProgress, Event, EventBus, Notice, RunEnded, RunStarted, StopToken
from dltui.engine.runs.folder import EventFollower, read_summary, writer_alive


class RunSource(Protocol):
    run_dir: Path | None

    def poll(self) -> list[Event]: ...
    def stop(self) -> None: ...
    @property
    def can_stop(self) -> bool: ...


class _InThread:
    """Training that runs in a thread of this app: stoppable, and joined on quit."""

    _token: StopToken
    _thread: threading.Thread

    def stop(self) -> None:
        self._token.request()

    @property
    def can_stop(self) -> bool:
        return self._thread.is_alive()

    @property
    def stop_requested(self) -> bool:
        return self._token.requested

    def finish(self, timeout: float = 30.0) -> None:
        """Stop after the current batch and wait until the summary is written."""
        self.stop()
        self._thread.join(timeout)


class InAppRun(_InThread):
    """Trains a prepared preset in a worker thread. Every event is kept (batch progress only as
    the latest), so a view opened later - back from another screen, or the header's - replays
    the run from its start and shows what a view that never left shows."""

    def __init__(self, prep: object, runs_dir: Path) -> None:
        from dltui.engine.preflight import Prepared
        from dltui.engine.train.experiment import Experiment

        assert isinstance(prep, Prepared)
        self.history: list[Event] = []
        self._token = StopToken()
        bus = EventBus()
        bus.subscribe(self._keep)
        self.experiment = Experiment(prep, runs_dir, bus, self._token)
        self.name = prep.preset.name
        self._thread = threading.Thread(target=self._run, name="dltui-train", daemon=True)
        self._thread.start()

    def _keep(self, event: Event) -> None:
        # Called on the training thread; list appends and item stores are atomic (GIL), and a
        # reader slices up to the length it saw.
        if isinstance(event, BatchProgress) and self.history and \
                isinstance(self.history[-1], BatchProgress):
            self.history[-1] = event
        else:
            self.history.append(event)

    def _run(self) -> None:
        try:
            self.experiment.run()
        except Exception as err:  # surfaced in the view; the run folder keeps what it has
            self._keep(Notice("warning", "crash", f"training stopped: {err!r}"))
            self._keep(RunEnded("failed", repr(err), 0.0, {}))

    @property
    def run_dir(self) -> Path | None:
        return self.experiment.run_dir

    def reader(self) -> LiveReader:
        return LiveReader(self)


class LiveReader:
    """One view's place in an in-app run's events: from the start, then what is new."""

    def __init__(self, run: InAppRun) -> None:
        self.run = run
        self._seen = 0

    @property
    def run_dir(self) -> Path | None:
        return self.run.run_dir

    def poll(self) -> list[Event]:
        history = self.run.history
        end = len(history)
        out = history[self._seen:end]
        if end and end == self._seen and isinstance(history[-1], BatchProgress):
            out = [history[-1]]  # the latest progress, replaced in place
        self._seen = end
        return out

    def stop(self) -> None:
        self.run.stop()

    @property
    def can_stop(self) -> bool:
        return self.run.can_stop


class FolderRun:
    """Follows `metrics.jsonl` of a run folder: live while another process appends, or finished.
    A writer that died without a summary (kill -9, a lost SSH session) is reported as such."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir: Path | None = run_dir
        self._follower = EventFollower(run_dir)
        self._pid = 0
        self._over = False

    def poll(self) -> list[Event]:
        if self._over:
            return []
        events = self._follower.poll()
        for event in events:
            if isinstance(event, RunStarted):
                self._pid = event.pid
            if isinstance(event, RunEnded):
                self._over = True
                return events[:events.index(event) + 1]
        if self.run_dir is None:
            return events
        summary = read_summary(self.run_dir)
        if summary is not None and not events:
            # A summary but no run_ended line: its last line was lost, or the files were
            # damaged. The summary says how the run ended (or that it is unreadable).
            self._over = True
            status = str(summary.get("status", "unreadable"))
            readable = status != "unreadable"
            events.append(RunEnded(status, str(summary.get("message", "")), 0.0,
                                   summary if readable else {}))
        elif summary is None and not writer_alive(self.run_dir, self._pid):
            events += self._follower.poll()  # lines written just before it died
            self._over = True
            events.append(RunEnded("failed", "the run ended without a summary (its process was "
                                   "killed, or its disk filled); its epochs so far are shown",
                                   0.0, {}))
        return events

    def stop(self) -> None:
        pass  # another process owns the run; stop it there (Ctrl+C)

    @property
    def can_stop(self) -> bool:
        return False


class InAppSweep(_InThread):
    """A sweep trained in a worker thread; the sweep screen follows its folder. Variants are
    validated and the folder made before this returns, so errors show in the builder."""

    def __init__(self, plan: object, runs_dir: Path, base_dir: Path | None) -> None:
        from dltui.engine.sweeps.runner import SweepRunner

        self._token = StopToken()
        self.runner = SweepRunner(plan, runs_dir, base_dir, None, lambda _e: None, self._token)  # type: ignore[arg-type]
        preps = self.runner.prepare_all()
        self.dir = self.runner.start(preps)
        self._thread = threading.Thread(target=self.runner.run, args=(preps,),
                                        name="dltui-sweep", daemon=True)
        self._thread.start()

