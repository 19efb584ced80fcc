"""Preset validation: one line naming the file, the key path and what is allowed."""

from __future__ import annotations

import pytest

from conftest import BINARY, preset
from dltui.engine.errors import InputError
from dltui.engine.presets import load_preset, shipped_presets


def error_of(write_preset, data, *overrides: str) -> str:
    path = write_preset(data)
    with pytest.raises(InputError) as err:
        load_preset(path, list(overrides))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith((str(path), "--set "))
    return msg


def test_every_shipped_preset_validates():
    names = shipped_presets()
    assert {"binary-breast-cancer", "multiclass-digits", "multiclass-digits-onehot", "regression-diabetes",
            "convnet-digits", "lstm-sine", "kfold-diabetes", "iterated-kfold-wine"} <= set(names)
    for name in names:
        spec, _ = load_preset(name)
        assert spec.description


def test_malformed_toml_gives_line_and_column(write_preset):
    msg = error_of(write_preset, "[train\nloss = 1\n")
    assert "invalid TOML" in msg and "line 1" in msg and "column" in msg


def test_unknown_key_suggests_the_closest_name(write_preset):
    msg = error_of(write_preset, preset(BINARY, train={"epoch": 5}))
    assert "train.epoch: unknown key; did you mean 'epochs'?" in msg


def test_unknown_section_is_named(write_preset):
    msg = error_of(write_preset, preset(BINARY, trian={"epochs": 5}))
    assert "trian: unknown key; did you mean 'train'?" in msg


def test_negative_units_names_the_layer_path(write_preset):
    bad = preset(BINARY)
    bad["model"]["layers"][2]["units"] = -3
    msg = error_of(write_preset, bad)
    assert "model.layers[2].units" in msg and "greater than or equal to 1" in msg and "-3" in msg


@pytest.mark.parametrize(("section", "values", "path"), [
    ("train", {"learning_rate": 0}, "train.learning_rate"),
    ("validation", {"scheme": "kfold", "k": 1}, "validation.k"),
    ("validation", {"val_fraction": 0.6, "test_fraction": 0.5}, "validation"),
    ("train", {"epochs": "many"}, "train.epochs"),
    ("train", {"optimizer": "adagrad"}, "train.optimizer"),
    ("train", {"loss": "hinge"}, "train.loss"),
    ("train", {"metrics": ["f1"]}, "train.metrics[0]"),
    ("train", {"device": "tpu"}, "train.device"),
])
def test_wrong_types_and_ranges(write_preset, section, values, path):
    msg = error_of(write_preset, preset(BINARY, **{section: values}))
    assert f": {path}" in msg


def test_dropout_rate_out_of_range(write_preset):
    bad = preset(BINARY)
    bad["model"]["layers"].insert(1, {"type": "Dropout", "rate": 1.5})
    assert "model.layers[1].rate" in error_of(write_preset, bad)


def test_unknown_layer_and_activation_list_what_is_allowed(write_preset):
    bad = preset(BINARY)
    bad["model"]["layers"][0] = {"type": "Dens", "units": 4}
    msg = error_of(write_preset, bad)
    assert "unknown layer type 'Dens'; did you mean 'Dense'?" in msg and "Conv2D" in msg
    bad["model"]["layers"][0] = {"type": "Dense", "units": 4, "activation": "swish"}
    msg = error_of(write_preset, bad)
    assert "model.layers[0].activation" in msg and "'relu'" in msg


def test_overrides_are_applied_and_validated(write_preset):
    path = write_preset(preset(BINARY))
    spec, _ = load_preset(path, ["train.epochs=7", "model.layers[0].units=4",
                                 "validation.scheme=kfold"])
    assert spec.train.epochs == 7 and spec.model.layers[0].units == 4
    assert spec.validation.scheme == "kfold"
    msg = error_of(write_preset, preset(BINARY), "train.epochs=-1")
    assert "train.epochs" in msg


def test_missing_preset_lists_the_shipped_ones():
    with pytest.raises(InputError, match="binary-breast-cancer"):
        load_preset("binary-imbd")
