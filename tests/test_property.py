"""Random presets, valid and invalid: validation accepts them and the model builds, or rejects them
with the one-line error, never anything else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dltui.engine.errors import InputError
from dltui.engine.model import build_model, infer_shapes
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
