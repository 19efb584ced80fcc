"""The help screen: what each screen's keys do."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# dltui keys

## Build
| key | action |
|---|---|
| `a` | add a layer after the selected one (type e.g. `Dense 16 relu`, Enter) |
| `i` | insert a layer before the selected one |
| `e` / Enter | edit the selected layer |
| `d` / Delete | delete the selected layer |
| `c` | duplicate the selected layer |
| `K` / `J` | move the selected layer up / down |
| Escape | leave the layer editor, back to the stack |
| Tab / Shift+Tab | move between fields; every setting is validated as you type |
| `ctrl+t` / F5 | train |
| `ctrl+s` | save as preset (TOML that `dltui run` can run) |
| `ctrl+o` | load a preset (a path or a shipped name) |
| `ctrl+r` | runs screen |

## Train (live view)
| key | action |
|---|---|
| `s` | stop after the current batch (everything computed is kept) |
| `e` | once the run has ended: its errors on validation data (confusion matrix, worst samples) |
| Escape | back |

## Sweep
| key | action |
|---|---|
| (builder) `0.001, 0.01` in a setting | vary it: `ctrl+t` then runs a sweep of every value |
| Space | show or hide a variant's curve |
| `m` | overlay validation loss or the primary metric |
| Enter | open the variant's run |
| `s` | stop a sweep this app runs |

## Runs
| key | action |
|---|---|
| Enter | open the run's curves and table (a run this app trains: live, `s` stops it) |
| `e` | the run's errors on validation data |
| `o` | sort: newest, preset, status, duration |
| `x` | write the run's curves as `curves.csv` in its folder |
| Space | mark runs; `c` overlays their validation curves (`m` there: loss or a metric they all have) |
| `g` | reload the list |

`?` opens this help anywhere; `ctrl+q` quits.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: round $accent;
                                  background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
