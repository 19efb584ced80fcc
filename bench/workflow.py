"""`python -m bench.workflow [--budget 5m] [--write]`: `dltui workflow` from the bare data of the
bundled sets, against the shipped presets that teach the same recipe (their validation score as
shipped), with the time each took on this machine."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dltui.engine import EventBus, Experiment, load_preset, prepare
from dltui.engine.events import StopToken
from dltui.engine.sweeps.workflow import Budget, Workflow

SETS = [("breast_cancer", "binary-breast-cancer"), ("diabetes", "regression-diabetes"),
        ("wine", "iterated-kfold-wine"), ("digits", "multiclass-digits")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", default="5m")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    lines = [f"### Workflow (`python -m bench.workflow`, budget {args.budget}, from the bare data)",
             "", "| data | shipped preset on the same splits: val score | workflow: chosen val "
             "score | workflow: test (once) | chosen | workflow time |", "|---|---|---|---|---|---|"]
    from dltui.engine.doctor.starter import starter

    with tempfile.TemporaryDirectory() as tmp:
        for name, shipped in SETS:
            start, _ = starter(f"builtin:{name}", None)
            raw = start.model_dump(mode="json", exclude_none=True)
            # The shipped preset's model and training, scored on the workflow's own splits (its
            # protocol, the same test part set aside): the same folds, a fair comparison.
            spec, path = load_preset(shipped)
            spec = spec.model_copy(update={"validation": start.validation.model_copy(
                update={"final_fit": False})})
            prep = prepare(spec, path.parent)
            summary = Experiment(prep, Path(tmp) / "shipped", EventBus()).run()
            metric = prep.primary_metric
            ref = summary["kfold"]["mean"]["best"][metric]
            t = time.perf_counter()
            state = Workflow(raw, None, Path(tmp) / "wf", None, lambda _l: None, StopToken(),
                             Budget.parse(args.budget)).run()
            seconds = time.perf_counter() - t
            chosen = next((s["choice"] for s in reversed(state["steps"]) if s.get("tried")), {})
            test = (state.get("test") or {}).get(metric)
            lines.append(f"| {name} | `{shipped}`: {metric} {ref:.4g} | {metric} "
                         f"{chosen.get('mean', float('nan')):.4g} | "
                         f"{'' if test is None else f'{test:.4g}'} | {chosen.get('label', '')} | "
                         f"{seconds:.0f} s |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        results = Path(__file__).with_name("RESULTS.md")
        old = results.read_text()
        start_at = old.find("### Workflow (")
        if start_at >= 0:
            end = old.find("\n### ", start_at + 1)
            old = old[:start_at] + (old[end + 1:] if end >= 0 else "")
        results.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
