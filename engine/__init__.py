"""dltui's engine: presets -> data -> splits -> models -> training loop -> events -> run folders.

Imports no UI library, so it can be used from a notebook:

    import dltui.engine as dl
    from sklearn.datasets import load_breast_cancer

    preset, path = dl.load_preset("binary-breast-cancer")
    experiment = dl.Experiment(dl.prepare(preset, path.parent))
    summary = experiment.run(progress=True)  # a line per epoch; the run folder is runs/<time>-...
    model = dl.load_run(experiment.run_dir)  # any run folder, later or on another machine
    predictions = model.predict(load_breast_cancer().data[:5])
    print(predictions.labels)  # also .probabilities(); model.evaluate(x, y) scores new data

The wings, in pipeline order (ARCHITECTURE.md has one line per module): `data/` (loading, rules,
splits), `model/` (layers, losses, metrics), `train/` (loop, optimizers, the experiment),
`stacking/` (K models at once), `runs/` (the run folder), `sweeps/`, `doctor/`.

Names are resolved lazily so that importing a light submodule (errors, events) does not pay for
torch and scikit-learn; that keeps `dltui --help` fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InputError": "errors", "TrainingFailure": "errors",
    "EventBus": "events", "StopToken": "events",
    "Experiment": "train.experiment", "Prepared": "preflight", "prepare": "preflight",
    "find_preset": "presets", "load_preset": "presets", "shipped_presets": "presets",
    "Preset": "spec",
    "load_run": "runs.trained", "TrainedModel": "runs.trained",
    "ProgressPrinter": "train.progress",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dltui.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dltui.engine.{_EXPORTS[name]}"), name)
