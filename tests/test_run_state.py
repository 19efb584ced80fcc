"""The live view's header numbers, rebuilt from events: elapsed time from the run's own start,
a remaining-time estimate that moves smoothly and ends at zero, and where a stop ended the run."""

from __future__ import annotations

import itertools
import time

from dltui.engine.events import EpochEnded, FoldStarted, RunEnded, RunStarted
from dltui.tui.run_state import RunState


def started(trainings: int = 2, epochs: int = 10, at: float = 0.0, parallel: str = "") -> RunStarted:
    return RunStarted("/tmp/x", "p", "kfold", trainings, epochs, "cpu", "data", "binary", 10,
                      [], parallel, 1, 1e-3, 1, "small steps", at)


def epoch(fold: int, e: int, seconds: float, epochs: int = 10) -> EpochEnded:
    return EpochEnded(0, fold, e, epochs, {"loss": 1.0}, {"loss": 1.0}, seconds, 100.0)


def test_elapsed_counts_from_the_runs_start_not_from_when_watch_attached():
    state = RunState()
    state.apply(started(at=time.time() - 120))
    assert 119 <= state.elapsed() <= 125
    assert "120s" in state.progress_text() or "121s" in state.progress_text()


def test_remaining_time_is_smoothed_and_reaches_zero_at_the_end():
    state = RunState()
    state.apply(started(trainings=2, epochs=10))
    estimates = []
    for fold in range(2):
        state.apply(FoldStarted(0, fold, 80, 20))
        for e in range(1, 11):
            # one pathological epoch (a slow start, a stall): the estimate must not jump with it
            state.apply(epoch(fold, e, 5.0 if (fold, e) == (0, 3) else 0.1))
            remaining = state.remaining()
            assert remaining is not None
            estimates.append(remaining)
    assert estimates[-1] == 0.0
    jumps = [b / a for a, b in itertools.pairwise(estimates) if a > 0 and b > 0]
    assert max(jumps) < 3, estimates  # the slow epoch moved it, not by 28x as a raw pace would
    state.apply(RunEnded("done", "", 3.0, {}))
    assert "left" not in state.progress_text()


def test_a_stopped_run_says_where_it_stopped_and_drops_the_stopping_hint():
    state = RunState()
    state.apply(started())
    state.apply(FoldStarted(0, 1, 80, 20))
    state.apply(epoch(1, 4, 0.1))
    state.stopping = True
    assert "stopping after the current batch" in state.progress_text()
    state.apply(RunEnded("stopped", "stopped on request", 1.0, {}))
    text = state.progress_text()
    assert "stopping after" not in text
    assert "stopped in repeat 0 fold 1 after epoch 4" in text


def test_curve_axes_use_whole_epochs_and_leave_early_outliers_off_scale():
    from dltui.tui.widgets.curves import integer_ticks, y_range

    assert integer_ticks(1) == [1]
    assert integer_ticks(12) == [1, 2, 4, 6, 8, 10, 12]  # round steps, and the last epoch
    assert integer_ticks(29) == [1, 5, 10, 15, 20, 25, 29]
    assert integer_ticks(237)[-1] == 237
    assert all(isinstance(t, int) for t in integer_ticks(237)) and len(integer_ticks(237)) <= 8
    # a first loss of 40 would flatten curves that move between 0.3 and 0.5
    span = y_range([40.0, 9.0, 0.5, 0.45, 0.4, 0.35, 0.3])
    assert span is not None and span[1] < 1.0 and span[0] < 0.3
    assert y_range([0.9, 0.8, 0.7, 0.6, 0.5]) is None  # nothing to leave off
