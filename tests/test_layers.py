"""Shape inference: every layer's declared output shape is what its module really produces."""

from __future__ import annotations

import pytest
import torch

from dltui.engine.errors import InputError
from dltui.engine.model.build import build_model
from dltui.engine.model.layers import (
    GRU,
    LAYER_TYPES,
    LSTM,
    Activation,
    BatchNorm,
    Conv2D,
    Conv3D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling,
    MaxPool2D,
    TimeDistributed,
)
from dltui.engine.model.shapes import infer_shapes, layer_rows

CASES = [
    (Dense(units=7, activation="relu"), (5,)),
    (Dense(units=3), (4, 6)),
    (Activation(activation="gelu"), (5,)),
    (Dropout(rate=0.5), (5,)),
    (Flatten(), (2, 3, 4)),
    (Conv2D(filters=4, kernel_size=3), (1, 8, 8)),
    (Conv2D(filters=4, kernel_size=3, padding="same"), (2, 8, 8)),
    (Conv2D(filters=4, kernel_size=2, strides=2), (1, 9, 9)),
    (MaxPool2D(pool_size=2), (3, 7, 7)),
    (GlobalAveragePooling(), (3, 5, 5)),
    (GlobalAveragePooling(), (6, 4)),
    (BatchNorm(), (5,)),
    (BatchNorm(), (6, 4)),
    (BatchNorm(), (3, 5, 5)),
    (LSTM(units=5), (6, 3)),
    (LSTM(units=5, return_sequences=True, bidirectional=True), (6, 3)),
    (GRU(units=4, bidirectional=True), (6, 3)),
]


@pytest.mark.parametrize(("layer", "in_shape"), CASES, ids=lambda c: getattr(c, "type", str(c)))
def test_declared_output_shape_matches_the_module(layer, in_shape):
    net = build_model([layer], in_shape)
    net.eval()
    out = net(torch.randn(2, *in_shape))
    assert tuple(out.shape[1:]) == layer.out_shape(in_shape)


COUNT_CASES = [*CASES,
    (Dense(units=7, use_bias=False, activation="prelu"), (5,)),
    (Dense(units=3, activation="prelu"), (2, 6, 6)),  # on an image's channels
    (Activation(activation="prelu"), (3, 4, 4)),
    (Conv2D(filters=4, kernel_size=3, activation="prelu"), (2, 8, 8)),
    (Embedding(input_dim=20, output_dim=4), (7,)),
    (LSTM(units=5, bidirectional=True), (6, 3)),
    (GRU(units=4), (6, 9)),
    (Conv3D(filters=2, kernel_size=3, activation="prelu"), (5, 3, 6, 6)),
    (TimeDistributed(layer=Conv2D(filters=2)), (5, 1, 8, 8)),
    (TimeDistributed(layer=Dense(units=4, activation="prelu")), (5, 6)),
]


@pytest.mark.parametrize(("layer", "in_shape"), COUNT_CASES, ids=lambda c: getattr(c, "type", str(c)))
def test_counts_from_shapes_equal_the_built_modules(layer, in_shape):
    """`dltui summary` and the builder count without torch: each layer's formula equals what
    its module holds (trainable parameters; saved floating-point state not trained)."""
    modules = layer.build(in_shape)
    trainable = sum(p.numel() for m in modules for p in m.parameters())
    frozen = sum(t.numel() for m in modules for t in m.state_dict(keep_vars=True).values()
                 if not isinstance(t, torch.nn.Parameter) and t.is_floating_point())
    assert layer.params(in_shape) == (trainable, frozen)


def test_specs_shapes_and_counts_import_no_torch():
    import subprocess
    import sys

    code = ("import sys\n"
            "from dltui.engine import load_preset\n"
            "from dltui.engine.model.shapes import layer_rows\n"
            "spec, _ = load_preset('convnet-digits')\n"
            "assert sum(r.params for r in layer_rows(spec.model.layers, (1, 8, 8))) > 0\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


HEAD_CASES = [
    ([Dense(units=1, activation="sigmoid")], (5,)),
    ([Dense(units=3, activation="softmax")], (5,)),
    ([Dense(units=3, activation="softmax")], (4, 6)),
    ([Dense(units=3, activation="softmax")], (2, 6, 6)),  # over an image's channels: no head
    ([Dense(units=3, activation="softmax"), Dropout(rate=0.5)], (5,)),  # not the last module
    ([Dense(units=3), Activation(activation="softmax")], (5,)),
    ([Dense(units=3), Activation(activation="sigmoid")], (5,)),
    ([Dense(units=3, activation="relu")], (5,)),
    ([Conv2D(filters=4, activation="softmax")], (1, 8, 8)),
    ([Conv2D(filters=4, activation="sigmoid")], (1, 8, 8)),
    ([Conv2D(filters=4), Flatten(), Dense(units=2, activation="softmax")], (1, 8, 8)),
    ([Conv3D(filters=2, kernel_size=3, activation="softmax")], (5, 3, 6, 6)),
    ([TimeDistributed(layer=Dense(units=4, activation="softmax"))], (5, 6)),
    ([LSTM(units=5), Dense(units=1, activation="sigmoid")], (6, 3)),
    ([Embedding(input_dim=20, output_dim=4), Flatten(), Dense(units=1, activation="sigmoid")],
     (7,)),
]


@pytest.mark.parametrize(("layers", "in_shape"), HEAD_CASES)
def test_the_head_read_from_the_specs_is_the_built_models(layers, in_shape):
    """The doctor checks the loss against the model's final activation without torch: read from
    the specs, it is the head the built model splits off."""
    from dltui.engine.model.pairing import head_of

    assert head_of(layers, in_shape) == build_model(layers, in_shape, device="meta").head


def test_embedding_shape_on_token_ids():
    layer = Embedding(input_dim=20, output_dim=4)
    out = build_model([layer], (7,))(torch.randint(0, 20, (2, 7)))
    assert tuple(out.shape[1:]) == layer.out_shape((7,)) == (7, 4)


def test_every_registered_layer_is_covered():
    # Embedding, Conv3D, MaxPool3D and TimeDistributed are covered in test_sequences.py.
    others = {"Embedding", "Conv3D", "MaxPool3D", "TimeDistributed"}
    assert {c[0].type for c in CASES} | others == set(LAYER_TYPES)


def test_binary_recipe_has_785_parameters():
    layers = [Dense(units=16, activation="relu"), Dense(units=16, activation="relu"),
              Dense(units=1, activation="sigmoid")]
    rows = layer_rows(layers, (30,))
    assert [r.params for r in rows] == [496, 272, 17]
    assert sum(r.params for r in rows) == 785
    assert sum(p.numel() for p in build_model(layers, (30,)).parameters()) == 785


def test_shape_mismatch_names_the_layer_and_both_shapes():
    layers = [Dense(units=8), Conv2D(filters=2)]
    with pytest.raises(InputError) as err:
        infer_shapes(layers, (30,))
    msg = str(err.value)
    assert "model.layers[1] (Conv2D)" in msg and "(8,)" in msg and "image" in msg


def test_layer_rows_mark_the_bad_layer_and_leave_later_ones_unknown():
    rows = layer_rows([Dense(units=8), MaxPool2D(), Dense(units=2)], (30,))
    assert rows[0].error is None and rows[0].out_shape == (8,)
    assert rows[1].error and "MaxPool2D" in rows[1].error
    assert rows[2].out_shape is None


def test_final_sigmoid_becomes_the_head_and_predict_applies_it():
    net = build_model([Dense(units=1, activation="sigmoid")], (3,))
    assert net.head == "sigmoid"
    x = torch.randn(4, 3)
    assert torch.allclose(net.predict(x), torch.sigmoid(net(x)))


def test_conv_kernel_larger_than_image_is_an_error():
    with pytest.raises(InputError, match="larger than the image"):
        infer_shapes([Conv2D(filters=2, kernel_size=5)], (1, 3, 3))


def test_embedding_must_come_first():
    with pytest.raises(InputError, match="first layer"):
        infer_shapes([Dense(units=3), Embedding(input_dim=5, output_dim=2)], (4,))
