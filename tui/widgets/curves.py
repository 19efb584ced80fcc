"""Live training curves: train vs validation for the current fold, the averaged validation curve
over finished folds, and the best-validation epoch marked."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from dltui.tui.run_state import FoldCurves, RunState


class CurvesPlot(PlotextPlot):
    def __init__(self, quantity: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.quantity = quantity  # "loss" or "metric"

    def show(self, state: RunState, curves: FoldCurves | None = None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        name = "loss" if self.quantity == "loss" else state.metric
        curves = curves or state.current_curves()
        where = ""
        if curves is not None:
            where = " final fit" if curves.fold < 0 else f" r{curves.repeat} f{curves.fold}"
            epochs = list(range(1, len(curves.train) + 1))
            train = [t.get(name, float("nan")) for t in curves.train]
            val = [v.get(name, float("nan")) for v in curves.val]
            if epochs:
                plt.plot(epochs, train, label="train", marker="braille")
                if any(v == v for v in val):
                    plt.plot(epochs, val, label="validation", marker="braille")
                best = curves.best_epoch()
                if best:
                    plt.vline(best, "red")
        avg = state.averaged_val(name)
        if avg:
            plt.plot(list(range(1, len(avg) + 1)), avg, label="val, mean of folds",
                     marker="braille")
        plt.title(f"{name}{where}")
        plt.xlabel("epoch")
        self.refresh()
