"""Random presets, valid and invalid: validation accepts them and the model builds, or rejects them
with the one-line error, never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dltui.engine.errors import InputError
from dltui.engine.model.build import build_model
from dltui.engine.model.shapes import infer_shapes
from dltui.engine.presets import validate_preset

layer = st.one_of(
    st.fixed_dictionaries({"type": st.just("Dense"), "units": st.integers(-2, 40),
                           "activation": st.sampled_from(["relu", "softmax", "swish", "linear"])}),
    st.fixed_dictionaries({"type": st.just("Dropout"), "rate": st.floats(-0.5, 1.5)}),
    st.fixed_dictionaries({"type": st.just("Conv2D"), "filters": st.integers(0, 8),
                           "kernel_size": st.integers(1, 9)}),
    st.fixed_dictionaries({"type": st.sampled_from(["Flatten", "MaxPool2D", "BatchNorm",
                                                     "Dense2", "GlobalAveragePooling"])}),
    st.fixed_dictionaries({"type": st.just("LSTM"), "units": st.integers(0, 8),
                           "return_sequences": st.booleans()}),
    st.dictionaries(st.sampled_from(["type", "units", "colour"]), st.integers(-1, 5), max_size=2),
)

raw_preset = st.fixed_dictionaries({
    "data": st.fixed_dictionaries({"source": st.sampled_from(
        ["builtin:digits", "builtin:iris", "bogus", "csv:x.csv"])}),
    "model": st.fixed_dictionaries({"layers": st.lists(layer, max_size=5)}),
    "train": st.fixed_dictionaries({
        "loss": st.sampled_from(["mse", "sparse_categorical_crossentropy", "hinge"]),
        "epochs": st.integers(-1, 3),
        "learning_rate": st.one_of(st.floats(-1, 1), st.just(float("nan"))),
    }, optional={"batch_size": st.one_of(st.integers(-5, 64), st.text(max_size=3)),
                 "extra": st.integers()}),
    "validation": st.fixed_dictionaries({}, optional={
        "scheme": st.sampled_from(["holdout", "kfold", "loo"]), "k": st.integers(0, 6),
        "val_fraction": st.floats(0, 1.2), "test_fraction": st.floats(0, 1.2)}),
})

INPUT_SHAPES = {"builtin:digits": (64,), "builtin:iris": (4,)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_preset, st.sampled_from([(64,), (1, 8, 8), (12, 3)]))
def test_random_presets_validate_and_build_or_fail_in_one_line(raw, in_shape):
    try:
        spec = validate_preset(raw, "random.toml")
        infer_shapes(spec.model.layers, in_shape)
    except InputError as err:
        msg = str(err)
        assert msg and "\n" not in msg and "Traceback" not in msg
        return
    net = build_model(spec.model.layers, in_shape)
    assert sum(p.numel() for p in net.parameters()) >= 0


# -- random CSV files: one-line refusals or datasets that say what they hold ------------------------
number = st.one_of(st.integers(-1000, 1000).map(str),
                   st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.4g}"))
special = st.sampled_from(["nan", "-nan", "+NaN", "inf", "-Infinity", "1e39", "", " ", "NA", "None",
                          "?", "oops", "red", "blue", '"x, y"', '"quoted ""text"""'])
# Mostly numbers and a few labels, with the mess rare enough that some files load.
cell = st.integers(0, 59).flatmap(
    lambda k: special if k < 2 else st.sampled_from(["0", "1"]) if k < 12 else number)
text_column = st.lists(st.sampled_from(["red", "blue", "NA", "", "green"]), min_size=30, max_size=30)
column_name = st.sampled_from(["a", "b", "c", "y", "A", "colour"])


@st.composite
def csv_text(draw: st.DrawFn) -> tuple[str, int]:
    width = draw(st.integers(2, 4))
    names = st.lists(column_name, min_size=width, max_size=width, unique=True)
    repeats = draw(st.integers(0, 5)) == 0
    header = draw(st.lists(column_name, min_size=width, max_size=width) if repeats else names)
    body = draw(st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=30))
    if draw(st.booleans()):  # a text column (one-hot) with blanks and 'NA' among its values
        texts = draw(text_column)
        body = [[texts[i], *r[1:]] for i, r in enumerate(body)]
    if draw(st.integers(0, 7)) == 0:  # now and then a row one field short or one too long
        i = draw(st.integers(0, len(body) - 1))
        body[i] = body[i][:-1] if draw(st.booleans()) else [*body[i], draw(cell)]
    # A row cut to one empty field is a blank line, which no CSV reader counts as a row.
    rows = sum(1 for r in body if ",".join(r) != "")
    return ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in body), rows


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_text(), missing=st.sampled_from(["error", "drop", "zero", "mean"]))
def test_random_csv_files_load_truthfully_or_fail_in_one_line(tmp_path, data, missing):
    import numpy as np

    from dltui.engine.data.dataset import load_data
    from dltui.engine.data.tables import typed_pass
    from dltui.engine.data.tables.encode import read_csv
    from dltui.engine.data.tables.reader import read_table
    from dltui.engine.spec import DataSpec

    text, rows = data
    path = tmp_path / "r.csv"
    path.write_text(text)
    # CSV reader parity: pandas' typed pass (big files) and pyarrow's load the same or refuse alike
    outcomes, default = [], typed_pass.PANDAS_BYTES
    for threshold in (1 << 62, 0):
        typed_pass.PANDAS_BYTES = threshold
        try:
            got = read_csv(path, None, [], missing)
            outcomes.append((got.x.tobytes(), got.rows.tolist(), got.schema, got.notes,
                             None if got.y_raw is None else got.y_raw.tolist()))
        except InputError as err:
            outcomes.append(str(err))
        finally:
            typed_pass.PANDAS_BYTES = default
    assert outcomes[0] == outcomes[1]
    try:
        d = load_data(DataSpec(source=f"csv:{path}", missing=missing))
    except InputError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return
    table = read_table(path)
    assert len(table.header) == len(set(table.header))  # repeats are never loaded
    removed = sum(int(n.split()[0]) for n in d.notes if "removed" in n)
    assert len(d) == len(d.y) == rows - removed
    assert d.x.shape[1] == len(d.feature_names) == len(d.schema.feature_names())
    assert d.x.dtype == np.float32
    assert not np.isinf(d.x).any()
    if missing != "mean":
        assert not np.isnan(d.x).any()


# -- random schemes: every sample validated once per repeat, and the plan says what it did ----------
scheme = st.fixed_dictionaries({
    "scheme": st.sampled_from(["holdout", "kfold", "iterated-kfold"]),
    "k": st.integers(2, 5), "repeats": st.integers(1, 3), "shuffles": st.integers(1, 3),
    "val_fraction": st.sampled_from([0.1, 0.2, 0.3]),
    "test_fraction": st.sampled_from([0.0, 0.0, 0.1]),
    "shuffle": st.sampled_from([None, True, False]), "stratify": st.booleans(),
})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(spec=scheme, task=st.sampled_from(["binary", "multiclass", "regression"]),
       time_ordered=st.booleans(), n=st.integers(40, 120), seed=st.integers(0, 3))
def test_random_schemes_validate_each_sample_once_per_repeat_and_report_what_they_did(
        spec, task, time_ordered, n, seed):
    from dltui.engine.data.splits import plan_splits
    from dltui.engine.spec import ValidationSpec

    rng = np.random.default_rng(seed)
    y = rng.normal(size=n).astype(np.float32) if task == "regression" else \
        np.sort(rng.integers(0, 2 if task == "binary" else 3, size=n))  # sorted by class
    v = ValidationSpec.model_validate(spec)
    try:
        plan = plan_splits(y, task, v, time_ordered, seed)
    except InputError as err:
        assert "\n" not in str(err) and str(err).startswith("validation")
        unshuffled = time_ordered or v.shuffle is False
        refused = (v.scheme == "iterated-kfold" and (unshuffled or time_ordered)) or \
            (v.scheme == "holdout" and v.shuffles > 1 and unshuffled) or \
            (time_ordered and v.shuffle) or "fold" in str(err) or "class" in str(err) \
            or "samples" in str(err)
        assert refused, str(err)
        return
    said = plan.describe()
    rest = set(plan.rest_idx.tolist())
    assert rest.isdisjoint(plan.test_idx.tolist())
    for repeat in range(said["repeats"]):
        splits = [s for s in plan.splits if s.repeat == repeat]
        validated = np.concatenate([s.val_idx for s in splits])
        for s in splits:
            assert set(s.train_idx.tolist()).isdisjoint(s.val_idx.tolist())
            assert set(s.train_idx.tolist()) | set(s.val_idx.tolist()) <= rest
            if time_ordered:  # the arrow of time: validation after training
                assert s.train_idx.max() < s.val_idx.min()
        if v.scheme != "holdout" and not said["forward_chaining"]:
            assert sorted(validated.tolist()) == sorted(rest)  # once each per repeat
    # What the plan says is what it did: read back from the splits themselves.
    shuffled = any(not np.array_equal(s.val_idx, np.arange(s.val_idx[0], s.val_idx[0] + len(s.val_idx)))
                   for s in plan.splits)
    assert said["shuffled"] == (not time_ordered and v.shuffle is not False)
    if not said["shuffled"]:
        assert not shuffled
    assert said["repeats"] == (v.repeats if v.scheme == "iterated-kfold" else
                               v.shuffles if v.scheme == "holdout" and said["shuffled"] else 1)
    if said["repeats"] > 1:  # repeats reshuffle: no two are the same partition
        firsts = {tuple(s.val_idx.tolist()) for s in plan.splits if s.fold == 0}
        assert len(firsts) == said["repeats"]
    assert said["stratified"] == (v.stratify and task != "regression" and said["shuffled"])
    if said["stratified"] and v.scheme != "holdout":
        share = np.bincount(y[plan.rest_idx]) / len(plan.rest_idx)
        for s in plan.splits:
            part = np.bincount(y[s.val_idx], minlength=len(share)) / len(s.val_idx)
            assert np.abs(part - share).max() <= 1.5 / len(s.val_idx) + 1e-9
