"""Sweep variants that share an architecture, trained together with all their folds as one
stacked model. Variants that differ only in the learning rate, the weight decay, the layers' L1/L2
factors, dropout rates or the seed (without a test part) build identical modules, so their members
stack like folds do; each member keeps its own settings inside the step (a flat optimizer with
per-element rates, per-member penalties and dropout rates), and each member's events go to its own
variant's run folder. Everything else about a variant (its summary, final fit, model files) is its
own Experiment's, exactly as when trained alone.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from ..data.preprocess import Normalizer
from ..data.splits import split_seed
from ..events import StopToken
from ..spec import Preset
from ..train.loop import FoldInfo, run_epochs
from .folds import StackedNet, StackedTrainee, needs_equal_parts, slower_stacked, unsupported_reason

if TYPE_CHECKING:
    from ..data.splits import Split
    from ..preflight import Prepared
    from .host import FoldHost


def signature(preset: Preset) -> str:
    """Everything that must be equal for two variants to train as one stacked model."""
    data = preset.model_dump(mode="json", exclude={"name", "description", "sweep"})
    data["train"].pop("learning_rate")
    data["train"].pop("weight_decay")
    if not preset.validation.test_fraction:  # with a test part, every seed would carve its own
        data["train"].pop("seed")
    for layer in data["model"]["layers"]:
        layer.pop("l1", None)
        layer.pop("l2", None)
        if layer["type"] == "Dropout":
            layer.pop("rate")
    return json.dumps(data, sort_keys=True)


def joint_groups(preps: list[Prepared], prune: bool) -> list[list[int]]:
    """Indices of variants to train together; a variant that cannot stack trains alone."""
    if prune:  # successive halving stops variants one by one: they train one after another
        return [[i] for i in range(len(preps))]
    groups: dict[str, list[int]] = {}
    alone: list[list[int]] = []
    for i, prep in enumerate(preps):
        if unsupported_reason(prep) or not prep.preset.validation.parallel_folds:
            alone.append([i])
            continue
        groups.setdefault(signature(prep.preset), []).append(i)
    joint = []
    for group in groups.values():
        first = preps[group[0]]
        members = len(group) * first.plan.trainings
        if len(group) > 1 and slower_stacked(first, first.preset.train.batch_size, members):
            alone += [[i] for i in group]  # each variant's folds may still stack (plan_groups)
        else:
            joint.append(group)
    return sorted(joint + alone)


class AnyStop(StopToken):
    """Stop the joint training when any of its experiments is asked to stop."""

    def __init__(self, tokens: list[StopToken]) -> None:
        super().__init__()
        self.tokens = tokens

    @property
    def requested(self) -> bool:
        return any(t.requested for t in self.tokens)


def train_jointly(experiments: list[FoldHost]) -> None:
    """Train every split of every experiment (all begun) as one stacked model, in chunks that
    keep the per-member data copies within the memory budget."""
    members = [(exp, split) for exp in experiments for split in exp.prep.plan.splits
               if (split.repeat, split.fold) not in exp.finished]
    batch = experiments[0].prep.preset.train.batch_size
    by_batches: dict[int, list[tuple[FoldHost, Split]]] = {}
    equal = needs_equal_parts(experiments[0].prep)
    for member in members:  # stacked members step together: the same number of batches each
        size = len(member[1].train_idx)
        by_batches.setdefault(size if equal else math.ceil(size / batch), []).append(member)
    for same in by_batches.values():  # members share one copy of the data: no chunking
        _train_chunk(same)


def _train_chunk(members: list[tuple[FoldHost, Split]]) -> None:
    first = members[0][0]
    prep, dev = first.prep, first.prep.device
    pres = [exp.fit(s.train_idx) for exp, s in members]
    x, y = first.device_data()  # variants of one sweep share the data (same data spec)
    seeds = [split_seed(exp.prep.preset.train.seed, s) for exp, s in members]
    nets = [exp.new_net(seed) for (exp, _), seed in zip(members, seeds, strict=True)]
    net = StackedNet(nets).to(dev)
    trains = [exp.prep.preset.train for exp, _ in members]
    trainee = StackedTrainee(net, first.setup, prep.preset.train, x, y,
                             Normalizer.stack([pre.on(dev) for pre in pres]), [s for _, s in members],
                             prep.plan.test_idx, seeds, trains=trains)
    infos = [FoldInfo(s.repeat, s.fold, len(s.train_idx), len(s.val_idx)) for _, s in members]
    for (exp, _), info in zip(members, infos, strict=True):
        exp.fold_started(info)
    stop = AnyStop([exp.stop for exp, _ in members])
    outcomes = run_epochs(trainee, infos, first.setup, first.emit, stop,
                          member_emits=[exp.emit for exp, _ in members],
                          learning_rates=[t.learning_rate for t in trains])
    tests = first.test_scores(trainee, len(members)) if "test" in trainee.parts else [{}] * len(members)
    for i, ((exp, split), out) in enumerate(zip(members, outcomes, strict=True)):
        if out.diverged is not None:
            exp.failure = exp.failure or out.diverged
            continue
        exp.finish_fold(out, tests[i], trainee.snapshot(i), pres[i], split.val_idx)
