"""dltui against Keras 3 (the torch backend), the library the book's numbers were made with:
parameter counts of every layer type (trainable and not), Dense on images, the default
initialisers' draws, and the RMSprop and Adam steps on tiny and ordinary gradients."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from scipy import stats  # noqa: E402

from dltui.engine.model.build import build_model  # noqa: E402
from dltui.engine.model.layers import LAYER_TYPES  # noqa: E402
from dltui.engine.model.shapes import layer_rows  # noqa: E402
from dltui.engine.train.optimizers import FlatOptimizer  # noqa: E402

L = keras.layers


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    """dltui's channels-first image (C, H, W) / video (T, C, H, W) as Keras lays it out."""
    if len(shape) == 3:
        return (*shape[1:], shape[0])
    if len(shape) == 4:
        return (shape[0], *shape[2:], shape[1])
    return shape


# (dltui layer, its input shape, the Keras layers that build the same model)
CASES = [
    ({"type": "Dense", "units": 16}, (10,), [L.Dense(16)]),
    ({"type": "Dense", "units": 16, "use_bias": False}, (10,), [L.Dense(16, use_bias=False)]),
    ({"type": "Dense", "units": 5}, (3, 12, 20), [L.Dense(5)]),  # an image: on the channels
    ({"type": "Dense", "units": 5}, (4, 3, 6, 7), [L.Dense(5)]),  # a video
    ({"type": "Dense", "units": 7}, (9, 4), [L.Dense(7)]),  # a sequence: per timestep
    ({"type": "Dense", "units": 16, "activation": "prelu"}, (10,), [L.Dense(16), L.PReLU()]),
    ({"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "prelu"}, (3, 10, 10),
     [L.Conv2D(8, 3), L.PReLU()]),
    ({"type": "Activation", "activation": "leaky_relu"}, (6,), [L.Activation("leaky_relu")]),
    ({"type": "Conv2D", "filters": 32, "kernel_size": 3}, (1, 28, 28), [L.Conv2D(32, 3)]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": 2, "strides": 2}, (3, 9, 9),
     [L.Conv2D(4, 2, strides=2)]),
    ({"type": "Conv3D", "filters": 4, "kernel_size": 3}, (5, 2, 6, 6), [L.Conv3D(4, 3)]),
    ({"type": "MaxPool2D"}, (3, 8, 8), [L.MaxPooling2D()]),
    ({"type": "MaxPool3D"}, (4, 3, 8, 8), [L.MaxPooling3D()]),
    ({"type": "Flatten"}, (3, 4, 4), [L.Flatten()]),
    ({"type": "GlobalAveragePooling"}, (3, 4, 4), [L.GlobalAveragePooling2D()]),
    ({"type": "GlobalAveragePooling"}, (7, 5), [L.GlobalAveragePooling1D()]),
    ({"type": "BatchNorm"}, (6,), [L.BatchNormalization()]),
    ({"type": "BatchNorm"}, (3, 5, 5), [L.BatchNormalization()]),
    ({"type": "BatchNorm"}, (7, 5), [L.BatchNormalization()]),
    ({"type": "Dropout", "rate": 0.5}, (6,), [L.Dropout(0.5)]),
    ({"type": "Embedding", "input_dim": 1000, "output_dim": 8}, (20,), [L.Embedding(1000, 8)]),
    ({"type": "LSTM", "units": 32}, (10, 1), [L.LSTM(32)]),
    ({"type": "LSTM", "units": 8, "return_sequences": True}, (10, 3),
     [L.LSTM(8, return_sequences=True)]),
    ({"type": "LSTM", "units": 8, "bidirectional": True}, (10, 3), [L.Bidirectional(L.LSTM(8))]),
    ({"type": "GRU", "units": 32}, (10, 1), [L.GRU(32)]),
    ({"type": "GRU", "units": 6, "bidirectional": True}, (10, 4), [L.Bidirectional(L.GRU(6))]),
    ({"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}},
     (5, 2, 8, 8), [L.TimeDistributed(L.Conv2D(4, 3))]),
    ({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 3}}, (5, 4),
     [L.TimeDistributed(L.Dense(3))]),
]


def dltui_layer(raw: dict):
    from pydantic import TypeAdapter

    from dltui.engine.model.layers import AnyLayer

    return TypeAdapter(AnyLayer).validate_python(raw)


def test_the_cases_cover_every_layer_type():
    assert {c[0]["type"] for c in CASES} == set(LAYER_TYPES)


@pytest.mark.parametrize("raw,shape,klayers", CASES, ids=[
    f"{c[0]['type']}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_parameter_counts_and_shapes_equal_keras(raw, shape, klayers):
    rows = layer_rows([dltui_layer(raw)], shape)
    assert rows[0].error is None, rows[0].error
    model = keras.Sequential([keras.Input(channels_last(shape)), *klayers])
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert rows[0].params == model.count_params() == trainable + frozen
    assert rows[0].frozen == frozen
    assert channels_last(rows[0].out_shape) == tuple(model.output_shape[1:])


def test_dense_on_an_image_computes_what_keras_computes():
    """The issue's case: (N, 12, 20, 3) into Dense 5 is (12, 20, 5) with 20 parameters, and the
    numbers are Keras's when the weights are."""
    net = build_model([dltui_layer({"type": "Dense", "units": 5})], (3, 12, 20))
    k = keras.Sequential([keras.Input((12, 20, 3)), L.Dense(5)])
    linear = net.body[0].inner
    k.layers[0].kernel.assign(linear.weight.detach().t().numpy())
    k.layers[0].bias.assign(linear.bias.detach().numpy())
    x = torch.randn(2, 3, 12, 20)
    ours = net(x).detach().permute(0, 2, 3, 1).numpy()
    theirs = np.asarray(k(x.permute(0, 2, 3, 1).numpy()).detach().cpu())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def _weights(raw: dict, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    net = build_model([dltui_layer(raw)], shape)
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


def test_dense_and_conv_draw_glorot_uniform_kernels_and_zero_biases():
    w = _weights({"type": "Dense", "units": 300}, (200,))
    limit = np.sqrt(6 / (200 + 300))
    assert np.abs(w["body.0.weight"]).max() <= limit
    assert np.abs(w["body.0.weight"]).max() > 0.99 * limit
    assert not w["body.0.bias"].any()
    keras_w = np.asarray(keras.initializers.GlorotUniform(seed=1)((200, 300)).cpu()).ravel()
    assert stats.ks_2samp(w["body.0.weight"].ravel(), keras_w).pvalue > 1e-3
    conv = _weights({"type": "Conv2D", "filters": 64, "kernel_size": 3}, (32, 9, 9))
    keras_c = np.asarray(keras.initializers.GlorotUniform(seed=1)((3, 3, 32, 64)).cpu()).ravel()
    assert stats.ks_2samp(conv["body.0.weight"].ravel(), keras_c).pvalue > 1e-3
    assert not conv["body.0.bias"].any()


@pytest.mark.parametrize("name,keras_init", [("he_normal", "HeNormal"),
                                             ("glorot_normal", "GlorotNormal"),
                                             ("lecun_uniform", "LecunUniform")])
def test_a_chosen_initialiser_draws_as_keras_does(name, keras_init):
    w = _weights({"type": "Dense", "units": 300, "kernel_initializer": name}, (200,))
    theirs = np.asarray(getattr(keras.initializers, keras_init)(seed=1)((200, 300)).cpu()).ravel()
    assert stats.ks_2samp(w["body.0.weight"].ravel(), theirs).pvalue > 1e-3


def test_torch_initialiser_keeps_torchs_draw():
    torch.manual_seed(0)
    ref = torch.nn.Linear(200, 300)
    w = _weights({"type": "Dense", "units": 300, "kernel_initializer": "torch",
                  "bias_initializer": "torch"}, (200,))
    np.testing.assert_array_equal(w["body.0.weight"], ref.weight.detach().numpy())


def test_recurrent_layers_draw_orthogonal_recurrent_kernels_and_the_forget_bias_of_one():
    units = 16
    w = _weights({"type": "LSTM", "units": units, "bidirectional": True}, (10, 5))
    assert "body.0.rnn.bias_hh_l0" not in w  # one bias per gate, as Keras
    for suffix in ("", "_reverse"):
        hh = w[f"body.0.rnn.weight_hh_l0{suffix}"]  # (4 units, units): orthonormal columns
        np.testing.assert_allclose(hh.T @ hh, np.eye(units), atol=1e-5)
        bias = w[f"body.0.rnn.bias_ih_l0{suffix}"].reshape(4, units)  # gates i, f, c, o
        np.testing.assert_array_equal(bias, np.eye(4)[[1]].T.repeat(units, 1))
        limit = np.sqrt(6 / (5 + 4 * units))
        assert np.abs(w[f"body.0.rnn.weight_ih_l0{suffix}"]).max() <= limit
    gru = _weights({"type": "GRU", "units": units}, (10, 5))
    assert not gru["body.0.rnn.bias_ih_l0"].any() and not gru["body.0.rnn.bias_hh_l0"].any()
    hh = gru["body.0.rnn.weight_hh_l0"]
    np.testing.assert_allclose(hh.T @ hh, np.eye(units), atol=1e-5)


def test_embeddings_start_uniform_in_five_hundredths():
    w = _weights({"type": "Embedding", "input_dim": 500, "output_dim": 16}, (8,))
    e = w["body.0.weight"]
    assert np.abs(e).max() <= 0.05 and np.abs(e).max() > 0.049
    theirs = np.asarray(keras.initializers.RandomUniform(seed=1)((500, 16)).cpu()).ravel()
    assert stats.ks_2samp(e.ravel(), theirs).pvalue > 1e-3


def test_an_lstm_saved_with_torchs_two_biases_loads_as_their_sum():
    from dltui.engine.model.modules import KerasLSTM

    torch.manual_seed(0)
    old = torch.nn.LSTM(3, 4, batch_first=True)
    new = KerasLSTM(3, 4, batch_first=True)
    new.load_state_dict(old.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(new(x)[0], old(x)[0])


@pytest.mark.parametrize("kind", ["rmsprop", "adam"])
@pytest.mark.parametrize("scale", [1e-6, 1e-4, 1.0])
@pytest.mark.parametrize("per_element", [False, True])
def test_rmsprop_and_adam_step_as_keras_does(kind, scale, per_element):
    """Keras puts RMSprop's epsilon inside the root and Adam's outside the bias correction;
    at gradients of 1e-6 torch's RMSprop step would be 325 times Keras's."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=64).astype(np.float32)
    grads = [(rng.normal(size=64) * scale).astype(np.float32) for _ in range(6)]
    var = keras.Variable(start.copy())
    opt = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[kind](
        learning_rate=0.01)
    flat = torch.nn.Parameter(torch.tensor(start))
    lr = torch.full((64,), 0.01) if per_element else 0.01
    decay = torch.zeros(64) if per_element else 0.0
    ours = FlatOptimizer(flat, kind, lr, decay)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        flat.grad = torch.tensor(g)
        ours.step()
    theirs = np.asarray(var.value.detach().cpu())
    moved = np.abs(theirs - start).max()
    assert moved > 1e-4  # the steps were not lost under epsilon
    np.testing.assert_allclose(flat.detach().numpy() - start, theirs - start,
                               rtol=2e-5, atol=moved * 1e-5)
