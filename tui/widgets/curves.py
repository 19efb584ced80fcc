"""Live training curves: train vs validation for the current fold, the averaged validation curve
over finished folds, and the best-validation epoch marked."""

from __future__ import annotations

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from dltui.tui.run_state import FoldCurves, RunState

MARKER = "hd"  # half the drawing cost of braille at nearly its resolution


def thin(xs: list[int], ys: list[float], limit: int) -> tuple[list[int], list[float]]:
    """At most `limit` points: more than the plot has columns for only costs drawing time."""
    if len(xs) <= limit:
        return xs, ys
    step = len(xs) / limit
    keep = sorted({min(len(xs) - 1, round(i * step)) for i in range(limit)} | {len(xs) - 1})
    return [xs[i] for i in keep], [ys[i] for i in keep]


class CurvesPlot(PlotextPlot):
    def __init__(self, quantity: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.quantity = quantity  # "loss" or "metric"
        self._version = 0
        self._cached: tuple[object, RenderResult] | None = None

    def render(self) -> RenderResult:
        # Textual repaints a widget for reasons of its own (a neighbour's layout, a resize);
        # building a plot is costly, so the last one is reused until data or size change.
        key = (self._version, self.size, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, super().render())
        return self._cached[1]

    def show(self, state: RunState, curves: FoldCurves | None = None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        name = "loss" if self.quantity == "loss" else state.metric
        curves = curves or state.current_curves()
        where = ""
        limit = max(20, 2 * self.size.width)
        if curves is not None:
            where = " final fit" if curves.fold < 0 else f" r{curves.repeat} f{curves.fold}"
            epochs = list(range(1, len(curves.train) + 1))
            train = [t.get(name, float("nan")) for t in curves.train]
            val = [v.get(name, float("nan")) for v in curves.val]
            if epochs:
                plt.plot(*thin(epochs, train, limit), label="train", marker=MARKER)
                if any(v == v for v in val):
                    plt.plot(*thin(epochs, val, limit), label="validation", marker=MARKER)
                best = curves.best_epoch()
                if best:
                    plt.vline(best, "red")
                # The doctor's curve diagnoses, marked where they start ("overfitting since 5").
                for notice in state.notices:
                    if notice.epoch and notice.epoch <= len(epochs):
                        plt.vline(notice.epoch, "orange")
                        top = max((v for v in [*train, *val] if v == v), default=0.0)
                        plt.text(f"{notice.code} {notice.epoch}", notice.epoch, top, color="orange",
                                 alignment="left")
        avg = state.averaged_val(name)
        if avg:
            plt.plot(*thin(list(range(1, len(avg) + 1)), avg, limit), label="val, mean of folds",
                     marker=MARKER)
        plt.title(f"{name}{where}")
        plt.xlabel("epoch")
        self._version += 1
        self.refresh()
