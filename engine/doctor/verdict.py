"""The doctor's whole verdict on a preset: its own findings plus everything `prepare` refuses or
warns about (the split rules, the book's redundancy and representativeness checks, memory), so
`dltui check` reports exactly what `dltui run` would refuse, from one source of truth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..preflight import prepare
from ..spec import Preset
from .examine import SEVERITIES, Finding, examine

# The book's reason for each notice `prepare` gives that is not one of the doctor's own findings.
WHY = {
    "representativeness": "The book's representativeness warning: the training and validation "
                          "parts should both be representative of the data at hand, so shuffle "
                          "before splitting (unless the data is ordered in time).",
    "redundancy": "The book's redundancy warning: a sample in both a training and an evaluation "
                  "part makes the evaluation optimistic; make sure the parts are disjoint.",
    "time-order": "The book's arrow of time: when predicting the future from the past, never "
                  "shuffle, and validate on data that comes after the training data.",
    "splits": "What the splitter (scikit-learn's) warned about for this data.",
    "batch-size": "An epoch is one pass over the training part in batches of this size.",
    "data": "What loading the data under its rules changed or noticed.",
}
_KEY = re.compile(r"^((?:data|model|train|validation|sweep)(?:\.[\w\[\]]+)*): (.*)$", re.S)


def refusal(err: InputError) -> Finding:
    """An error that `prepare` raises, as a finding on the key it names."""
    text = str(err)
    found = _KEY.match(text)
    where, message = (found.group(1), found.group(2)) if found else ("preset", text)
    return Finding("refused", "error", where, message,
                   "`dltui run` refuses this preset before training anything.", {})


def verdict(preset: Preset, base_dir: Path | None = None, data: Any = None) -> list[Finding]:
    """Every finding for this preset, errors first. Data that does not load raises InputError
    (there is nothing to examine)."""
    from ..data.dataset import load_data

    data = data if data is not None else load_data(preset.data, base_dir)
    findings = examine(preset, data)
    if any(f.severity == "error" for f in findings):
        return findings  # prepare refuses with the first of these
    try:
        prep = prepare(preset, base_dir, data=data)
    except InputError as err:
        return [refusal(err), *findings]
    own = {f.id for f in findings}
    for notice in prep.notices:
        if notice.code in own or notice.level not in SEVERITIES:
            continue
        findings.append(Finding(notice.code, notice.level, "validation" if notice.code != "data"
                                else "data", notice.message,
                                WHY.get(notice.code, "What `dltui run` reports before training."), {}))
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
