"""The layer stack editor's table: each layer with its output shape and parameter count, recomputed
from the engine's shape inference on every change; a layer that does not fit says why."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import DataTable

from dltui.engine.model.layers import LayerSpec, Shape
from dltui.engine.model.shapes import layer_rows

from ..layer_syntax import short_label


class LayerStack(DataTable):
    """The model's keys (a, i, e, d, c, K, J, u) belong to the build screen: they act on the
    model wherever the focus is, unless a text field is being typed in."""

    class Requested(Message):
        """The user asked for an edit; the build screen owns the layer list."""

        def __init__(self, what: str, row: int) -> None:
            super().__init__()
            self.what, self.row = what, row

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Requested("edit", event.cursor_row))

    def show(self, layers: list[LayerSpec], in_shape: Shape | None,
             marks: dict[int, str] | None = None, narrow: bool = False,
             short: bool = False) -> tuple[int, str]:
        """Redraw; returns the total parameter count and the first problem ('' when none).
        `narrow` (an 80-column terminal): the notes column is left out (the totals line and
        the doctor's panel say the same) so layer, shape and params keep their width. `short`:
        compact layer labels (`Conv2D 16 3x3/1 same relu`) where the full ones would not fit."""
        row = self.cursor_row or 0
        headers = ["#", "layer", "output shape", "params", *(() if narrow else ("doctor",))]
        rows: list[list[str]] = []
        problem, total = "", 0
        if in_shape is None:
            for i, layer in enumerate(layers):
                rows.append([str(i), short_label(layer) if short else layer.describe(), "?", "",
                             "load data to see shapes"])
            problem = "no data loaded"
        else:
            rows.append(["", "input", str((None, *in_shape)), "", ""])
            found = layer_rows(layers, in_shape)
            for r in found:
                shape = str((None, *r.out_shape)) if r.out_shape is not None else "-"
                note = f"✗ {r.error}" if r.error else (marks or {}).get(r.index, "")
                if r.error and not problem:
                    problem = f"layer {r.index} ({layers[r.index].type}): {r.error}"  # type: ignore[attr-defined]
                label = short_label(layers[r.index]) if short else r.label
                rows.append([str(r.index), label, shape, f"{r.params:,}", note])
            total = sum(r.params for r in found)
        rows = [cells[:len(headers)] for cells in rows]
        self.clear(columns=True)
        # Widths set from the cells: the table's own auto-width was seen to keep a column at
        # its header's width ("Dense" for "Dense(units=16, ...)") after a redraw.
        for j, header in enumerate(headers):
            self.add_column(header, width=max(len(header), *(len(c[j]) for c in rows)) if rows
                            else len(header))
        for cells in rows:
            self.add_row(*cells)
        if layers:
            self.move_cursor(row=min(row, len(layers)))
        return total, problem
