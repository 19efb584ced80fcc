"""The model doctor, during and after training: what the curves say, each diagnosis once, with the
epoch it starts at so the faces can mark it. Incremental (`CurveWatch.update` per epoch, O(1)), so
a long run pays nothing for it; `diagnose` replays a whole history the same way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PATIENCE = 3  # epochs of rising validation loss before it is called overfitting
FLAT_AFTER = 5  # epochs before a flat curve is called underfitting or no learning


@dataclass(frozen=True)
class CurveFinding:
    id: str  # overfitting | instability | underfitting | no-learning
    level: str
    epoch: int
    message: str


@dataclass
class CurveWatch:
    """Diagnoses of one model's curves. `chance_loss`: crossentropy of uniform guessing;
    `chance_accuracy`: accuracy of always answering the majority class."""

    learning_rate: float
    chance_loss: float | None = None
    chance_accuracy: float | None = None
    said: set[str] = field(default_factory=set)
    _first_train: float = math.nan
    _min_train: float = math.inf
    _min_val: float = math.inf
    _best_epoch: int = 0
    _train_at_best: float = math.inf
    _rising: int = 0
    _at_chance: int = 0

    def update(self, epoch: int, train: dict[str, float], val: dict[str, float]) -> list[CurveFinding]:
        out: list[CurveFinding] = []
        tr, va = train.get("loss", math.nan), val.get("loss", math.nan)
        if epoch == 1 or math.isnan(self._first_train):
            self._first_train = tr
        exploded = self.chance_loss is not None and max(tr, va if va == va else 0) > 10 * self.chance_loss
        # Rising back to more than twice its lowest and half its first value: overshooting. (A
        # loss near zero doubles on noise alone, so the lowest value is not enough.)
        rose = epoch >= 2 and tr > 2 * self._min_train + 1e-12 and tr > 0.5 * self._first_train
        if exploded or rose:
            worst = max(tr, va) if va == va else tr
            out += self._say("instability", "warning", epoch,
                             f"loss {worst:.4g} at epoch {epoch} "
                             f"({'far above guessing' if exploded else 'rising again'}): training is "
                             f"unstable, not overfitting; train.learning_rate {self.learning_rate:g} "
                             f"is too high, try {self.learning_rate / 10:g}")
        self._min_train = min(self._min_train, tr)
        if va == va:
            if va < self._min_val:
                self._min_val, self._best_epoch, self._train_at_best, self._rising = va, epoch, tr, 0
            elif va > self._min_val * 1.001:  # a flat curve is not a rising one
                self._rising += 1
            if self._rising >= PATIENCE and tr <= self._min_train * 1.001 \
                    and tr < 0.99 * self._train_at_best \
                    and "instability" not in self.said:
                since = self._best_epoch + 1
                out += self._say("overfitting", "hint", since,
                                 f"overfitting since epoch {since}: validation loss has not improved "
                                 f"since epoch {self._best_epoch} while training loss keeps falling "
                                 "(fewer epochs, a smaller model, dropout or L2 will help)")
        if epoch >= FLAT_AFTER and tr > 0.95 * self._first_train and "instability" not in self.said:
            high = self.chance_loss is None or tr > 0.8 * self.chance_loss
            if high:
                out += self._say("underfitting", "warning", epoch,
                                 f"training loss is flat ({self._first_train:.4g} -> {tr:.4g} over "
                                 f"{epoch} epochs): the model is underfitting; try a bigger model "
                                 f"or a higher learning rate (now {self.learning_rate:g})")
        acc = val.get("accuracy", train.get("accuracy"))
        if self.chance_accuracy is not None and acc is not None and acc == acc:
            self._at_chance = self._at_chance + 1 if acc <= self.chance_accuracy + 0.01 else 0
            if epoch >= FLAT_AFTER and self._at_chance >= PATIENCE:
                out += self._say("no-learning", "warning", epoch,
                                 f"accuracy {acc:.3g} after {epoch} epochs is chance level (always "
                                 f"answering the most common class scores {self.chance_accuracy:.3g}): "
                                 "the model is not learning; check the loss, the learning rate "
                                 "and that the features carry the signal")
        return out

    def _say(self, code: str, level: str, epoch: int, message: str) -> list[CurveFinding]:
        if code in self.said:
            return []
        self.said.add(code)
        return [CurveFinding(code, level, epoch, message)]


def diagnose(history: list[tuple[dict[str, float], dict[str, float]]], learning_rate: float,
             chance_loss: float | None = None, chance_accuracy: float | None = None) -> list[CurveFinding]:
    watch = CurveWatch(learning_rate, chance_loss, chance_accuracy)
    found: list[CurveFinding] = []
    for epoch, (train, val) in enumerate(history, start=1):
        found += watch.update(epoch, train, val)
    return found


def advice(summary: dict[str, Any], codes: set[str]) -> dict[str, Any]:
    """The doctor's closing words: how many epochs to train, and the next experiment."""
    curve = summary.get("averaged_curve") or {}
    # Hold-out: the best epoch by validation loss; K-fold: the averaged curve's best epoch.
    epochs = summary.get("best_epoch") if summary.get("scheme") == "holdout" else \
        curve.get("best_epoch") or summary.get("best_epoch")
    if "instability" in codes:
        nxt = "lower train.learning_rate by 10x and train again"
    elif "no-learning" in codes:
        nxt = "check the last layer and loss pair (dltui check), then raise the learning rate"
    elif "underfitting" in codes:
        nxt = "give the model more capacity (more units or a layer) or train longer"
    elif "overfitting" in codes:
        nxt = (f"train for about {epochs} epochs, then fight overfitting: add Dropout, L2 weight "
               "regularisation, or try a smaller network and compare the validation curves")
    elif epochs and epochs >= (curve.get("epochs") or summary.get("epochs_run") or 0) > 0:
        # The best epoch is the last one: "train about N" would tell the user to stop where the
        # curve was still improving.
        nxt = (f"the validation curve was still improving at the last epoch ({epochs}): train "
               "longer, or make the network bigger until it overfits, then regularise (the "
               "book's workflow)")
        epochs = None
    elif epochs:
        nxt = (f"no overfitting yet (the validation curve was best at epoch {epochs}): make the "
               "network bigger until it overfits, then regularise (the book's workflow)")
    else:
        nxt = ("no overfitting yet: train longer or make the network bigger until it overfits, "
               "then regularise (the book's workflow)")
    return {"epochs": epochs, "next": nxt, "diagnoses": sorted(codes)}
