"""dltui's engine: presets -> data -> splits -> models -> training loop -> events -> run folders.

Imports no UI library, so it can be used from a notebook:

    from dltui.engine import load_preset, prepare, Experiment
    preset, path = load_preset("binary-imdb")
    summary = Experiment(prepare(preset, path.parent)).run()
"""

from dltui.engine.errors import InputError, TrainingFailure
from dltui.engine.events import EventBus, StopToken
from dltui.engine.experiment import Experiment, Prepared, prepare
from dltui.engine.presets import find_preset, load_preset, shipped_presets
from dltui.engine.spec import Preset

__all__ = [
    "EventBus", "Experiment", "InputError", "Prepared", "Preset", "StopToken", "TrainingFailure",
    "find_preset", "load_preset", "prepare", "shipped_presets",
]
