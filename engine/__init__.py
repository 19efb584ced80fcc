"""dltui's engine: presets -> data -> splits -> models -> training loop -> events -> run folders.

Imports no UI library, so it can be used from a notebook:

    from dltui.engine import load_preset, prepare, Experiment
    preset, path = load_preset("binary-imdb")
    experiment = Experiment(prepare(preset, path.parent))
    summary = experiment.run()
    model = load_run(experiment.run_dir)  # model.predict("new.csv"), model.evaluate("labelled.csv")

Names are resolved lazily so that importing a light submodule (errors, events) does not pay for
torch and scikit-learn; that keeps `dltui --help` fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InputError": "errors", "TrainingFailure": "errors",
    "EventBus": "events", "StopToken": "events",
    "Experiment": "experiment", "Prepared": "preflight", "prepare": "preflight",
    "find_preset": "presets", "load_preset": "presets", "shipped_presets": "presets",
    "Preset": "spec",
    "load_run": "trained", "TrainedModel": "trained",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dltui.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dltui.engine.{_EXPORTS[name]}"), name)
