"""Live training curves: train vs validation for the current fold, the averaged validation curve
over finished folds, and the best-validation epoch marked."""

from __future__ import annotations

import math

from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from ..run_state import FoldCurves, RunState
from .palette import RGB, role_colour, series_colour, series_marker

MARKER = "hd"  # half the drawing cost of braille at nearly its resolution


def thin(xs: list[int], ys: list[float], limit: int) -> tuple[list[int], list[float]]:
    """At most `limit` points: more than the plot has columns for only costs drawing time."""
    if len(xs) <= limit:
        return xs, ys
    step = len(xs) / limit
    keep = sorted({min(len(xs) - 1, round(i * step)) for i in range(limit)} | {len(xs) - 1})
    return [xs[i] for i in keep], [ys[i] for i in keep]


VAL_MARKER = "dot"  # distinct from the training curve where the two overlap, colour or not
MEAN_MARKER = "braille"
# what each series looks like in the legend row
GLYPHS = {"train": "▖", "validation": "•", "mean": "⠒", "best": "│", "notice": "┆"}


def plot_background(widget: PlotextPlot) -> RGB:
    """The colour plots are drawn on (textual-plotext paints them on the theme's surface)."""
    return Color.parse(widget.app.theme_variables.get("surface", "#000000")).rgb


def integer_ticks(last: int, most: int = 8) -> list[int]:
    """Epoch ticks: 1, then round multiples (1-2-5 steps), and always the last epoch (a final
    fit's axis shows where it ends); at most `most` of them."""
    if last <= 1:
        return [1]
    step = next(m * 10 ** p for p in range(12) for m in (1, 2, 5) if last / (m * 10 ** p) < most)
    ticks = [1] + [t for t in range(step, last + 1, step) if t - 1 >= step / 2]
    if ticks[-1] != last:
        if last - ticks[-1] < step / 2 and len(ticks) > 1:
            ticks[-1] = last  # too close to the previous one to be read apart
        else:
            ticks.append(last)
    return ticks


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round y ticks, 1-2-5 steps (plotext's own split the range evenly: -364.5, -0.0)."""
    if not (hi > lo) or hi - lo == float("inf"):
        return []
    power = 10 ** math.floor(math.log10((hi - lo) / most))
    step = next(m * power for m in (1, 2, 5, 10, 20, 50)  # the finest with at most `most`
                if math.floor(hi / (m * power)) - math.ceil(lo / (m * power)) + 1 <= most)
    first = math.ceil(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12) + 0.0)  # + 0.0: never "-0"
        t += step
    return ticks


def tick_label(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text in ("-0", "0") else text


def y_range(values: list[float]) -> tuple[float, float] | None:
    """A y-range that leaves off the first epochs when they would flatten the rest (a first
    loss ten times the later ones is common); None: plotext's own range is fine."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if len(finite) < 5:
        return None
    rest = finite[2:]
    lo, hi = min(rest), max(rest)
    if max(finite[:2]) - lo <= 3 * (hi - lo) or hi == lo:
        return None
    margin = (hi - lo) * 0.1
    # a loss or an error cannot go below zero: neither does its axis
    return (max(lo - margin, 0.0) if lo >= 0 else lo - margin), hi + margin


def draw_series(widget: PlotextPlot, series: list[tuple[int, str, list[float]]]
                ) -> tuple[list[tuple[str, RGB, str]], int]:
    """Several curves on one plot (sweep variants, compared runs), each with the colour and
    marker of its index (stable: hiding one recolours no other) and no label on the data.
    Returns the legend row's entries and the longest curve's length."""
    plt = widget.plt
    background = plot_background(widget)
    entries: list[tuple[str, RGB, str]] = []
    longest = 1
    for index, label, curve in series:
        if not curve:
            continue
        colour, marker = series_colour(index, background), series_marker(index)
        plt.plot(*thin(list(range(1, len(curve) + 1)), curve, max(20, 2 * widget.size.width)),
                 marker=marker, color=colour)
        entries.append((marker, colour, label))
        longest = max(longest, len(curve))
    drawn = [v for _i, _l, curve in series for v in curve if v == v and abs(v) != float("inf")]
    if drawn:
        ticks = nice_ticks(min(drawn), max(drawn),
                           most=max(3, min(6, (widget.size.height - 5) // 2)))
        if len(ticks) >= 2:
            plt.yticks(ticks, [tick_label(t) for t in ticks])
    plt.xticks(integer_ticks(longest))
    plt.xlabel("epoch")
    return entries, longest


class CurvesPlot(PlotextPlot):
    def __init__(self, quantity: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.quantity = quantity  # "loss" or "metric"
        self.log_scale = False  # `l` in the live view: logarithmic y axis (loss only)
        self._version = 0
        self._cached: tuple[object, RenderResult] | None = None
        self._shown: tuple[RunState, FoldCurves | None] | None = None
        self.heading = ""
        # (glyph, colour, words) of what the last `show` drew: the screen's legend row, so no
        # label is written over the data
        self.entries: list[tuple[str, RGB, str]] = []

    def render(self) -> RenderResult:
        # Textual repaints a widget for reasons of its own (a neighbour's layout, a resize);
        # building a plot is costly, so the last one is reused until data or size change.
        key = (self._version, self.size, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, super().render())
        return self._cached[1]

    def on_resize(self) -> None:
        # titles and ticks are fitted to the size: drawn again for a new one (the first
        # `show` often comes before the layout has given the plot any size)
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, state: RunState, curves: FoldCurves | None = None) -> None:
        self._shown = (state, curves)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        name = "loss" if self.quantity == "loss" else state.metric
        curves = curves or state.current_curves()
        where, note = "", ""
        limit = max(20, 2 * self.size.width)
        drawn: list[float] = []
        last_epoch = 1
        background = plot_background(self)
        colour = {role: role_colour(role, background) for role in GLYPHS}
        entries: list[tuple[str, RGB, str]] = []
        if curves is not None:
            final = curves.fold < 0
            where = " final fit" if final else f" r{curves.repeat} f{curves.fold}"
            epochs = list(range(1, len(curves.train) + 1))
            train = [t.get(name, float("nan")) for t in curves.train]
            val = [v.get(name, float("nan")) for v in curves.val]
            last_epoch = max(len(epochs), 1)
            if final and state.epochs:  # the final fit trains to a known epoch: show the target
                last_epoch = max(last_epoch, state.epochs)
                where += f" to epoch {state.epochs}"
                plt.xlim(1, last_epoch)
            if epochs:
                plt.plot(*thin(epochs, train, limit), marker=MARKER, color=colour["train"])
                entries.append((GLYPHS["train"], colour["train"], "train"))
                drawn += train
                if any(v == v for v in val):
                    plt.plot(*thin(epochs, val, limit), marker=VAL_MARKER,
                             color=colour["validation"])
                    entries.append((GLYPHS["validation"], colour["validation"], "validation"))
                    drawn += val
        avg = state.averaged_val(name)
        if avg:
            plt.plot(*thin(list(range(1, len(avg) + 1)), avg, limit), marker=MEAN_MARKER,
                     color=colour["mean"])
            entries.append((GLYPHS["mean"], colour["mean"], "mean of folds"))
            drawn += avg
            last_epoch = max(last_epoch, len(avg))
        span = None if (self.log_scale and self.quantity == "loss") else y_range(drawn)
        if self.log_scale and self.quantity == "loss" and all(v > 0 for v in drawn if v == v):
            plt.yscale("log")
            note = " (log)"
        elif span is not None:
            plt.ylim(*span)
            note = " (1-2 off scale)" if self.quantity == "loss" else ""
        if not note.endswith("(log)"):
            finite = [v for v in drawn if v == v and abs(v) != float("inf")]
            lo, hi = span if span else (min(finite, default=0.0), max(finite, default=0.0))
            # a tick every other row at most: closer, plotext drops labels unpredictably
            ticks = nice_ticks(lo, hi, most=max(3, min(6, (self.size.height - 5) // 2)))
            if len(ticks) >= 2:
                plt.yticks(ticks, [tick_label(t) for t in ticks])
        if curves is not None and any(v for v in curves.val):
            best = curves.best_epoch()
            if best:
                plt.vline(best, colour["best"])
                entries.append((GLYPHS["best"], colour["best"], f"best {best}"))
            # The doctor's curve diagnoses, marked where they start (named in the legend row).
            for notice in state.notices:
                if notice.epoch and notice.epoch <= len(curves.train):
                    plt.vline(notice.epoch, colour["notice"])
                    entries.append((GLYPHS["notice"], colour["notice"],
                                    f"{notice.code} from {notice.epoch}"))
        plt.xticks(integer_ticks(last_epoch))
        # what the plot says it draws; plotext leaves out a title wider than the plot, so the
        # longer forms give way to shorter ones (the x axis shows the final fit's target anyway)
        room = self.size.width - 6 if self.size.width else 200  # not laid out yet: drawn again
        short_where = where.split(" to epoch")[0]
        forms = [f"{name}{where}{note}", f"{name}{where}{note.replace(' scale', '')}",
                 f"{name}{short_where}{note.replace(' scale', '')}", f"{name}{short_where}"]
        self.heading = next((f for f in forms if len(f) <= room), forms[-1])
        plt.title(self.heading)
        plt.xlabel("epoch")
        self.entries = entries
        self._version += 1
        self.refresh()
