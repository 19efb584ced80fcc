"""Data sources: built-in sets, CSV and NPZ files, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dltui.engine.data.dataset import load_data
from dltui.engine.errors import InputError
from dltui.engine.spec import DataSpec

# every rule on both typed passes of the CSV reader (pyarrow's and pandas')
pytestmark = pytest.mark.usefixtures("csv_reader")


def csv_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "d.csv"
    path.write_text(text)
    return f"csv:{path}"


def test_builtin_sets_settle_their_task():
    assert load_data(DataSpec(source="builtin:breast_cancer")).task == "binary"
    digits = load_data(DataSpec(source="builtin:digits", view="image"))
    assert digits.task == "multiclass" and digits.input_shape == (1, 8, 8)
    assert load_data(DataSpec(source="builtin:diabetes")).task == "regression"
    sine = load_data(DataSpec(source="builtin:sine", samples=100, timesteps=10))
    assert sine.time_ordered and sine.input_shape == (10, 1)


def test_synthetic_sets_repeat_with_a_seed():
    a = load_data(DataSpec(source="builtin:moons", samples=50, noise=0.3, seed=4))
    b = load_data(DataSpec(source="builtin:moons", samples=50, noise=0.3, seed=4))
    assert np.array_equal(a.x, b.x) and len(a) == 50


def test_unknown_builtin_suggests_a_name():
    with pytest.raises(InputError, match="did you mean 'digits'"):
        load_data(DataSpec(source="builtin:digit"))


def test_csv_target_drop_and_one_hot(tmp_path):
    src = csv_file(tmp_path, "id,colour,size,label\n1,red,1.5,yes\n2,blue,2.5,no\n3,red,0.5,yes\n")
    d = load_data(DataSpec(source=src, target="label", drop=["id"]))
    assert d.task == "binary" and d.classes == ["no", "yes"]
    assert d.feature_names == ["colour=blue", "colour=red", "size"]
    assert d.x.tolist()[1] == [1.0, 0.0, 2.5]


def test_csv_missing_target_column_lists_columns(tmp_path):
    with pytest.raises(InputError, match=r"data.target: no column 'y' \(columns: a, b\)"):
        load_data(DataSpec(source=csv_file(tmp_path, "a,b\n1,2\n3,4\n"), target="y"))


def test_csv_single_class(tmp_path):
    with pytest.raises(InputError, match="single class"):
        load_data(DataSpec(source=csv_file(tmp_path, "a,b\n1,x\n3,x\n"), target="b"))


def test_csv_junk_in_numeric_column_names_line(tmp_path):
    src = csv_file(tmp_path, "a,b\n1,0\n2,1\noops,0\n4,1\n5,0\n")
    with pytest.raises(InputError, match="column 'a' is numeric but line 4 has 'oops'"):
        load_data(DataSpec(source=src, target="b"))


def test_csv_missing_values_error_by_default_then_fill(tmp_path):
    src = csv_file(tmp_path, "a,b,y\n1,,0\n2,5,1\n,7,0\n4,8,1\n5,9,0\n")
    with pytest.raises(InputError, match=r"missing values in column\(s\) a \(1\), b \(1\)"):
        load_data(DataSpec(source=src, target="y"))
    assert len(load_data(DataSpec(source=src, target="y", missing="drop"))) == 3
    assert load_data(DataSpec(source=src, target="y", missing="zero")).x[0, 1] == 0
    assert np.isnan(load_data(DataSpec(source=src, target="y", missing="mean")).x[0, 1])


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_data(DataSpec(source=f"csv:{tmp_path / 'nope.csv'}"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="header row"):
        load_data(DataSpec(source=f"csv:{tmp_path / 'empty.csv'}"))


def test_npz_needs_x_and_y_of_equal_length(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((3, 2)))
    with pytest.raises(InputError, match="needs arrays 'x' and 'y'"):
        load_data(DataSpec(source=f"npz:{path}"))
    np.savez(path, x=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(InputError, match="x has 3 samples but y has 4"):
        load_data(DataSpec(source=f"npz:{path}"))
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"not a readable \.npz"):
        load_data(DataSpec(source=f"npz:{path}"))


def test_npz_channels_last_images_become_channels_first(tmp_path):
    path = tmp_path / "img.npz"
    x = np.random.default_rng(0).normal(size=(6, 5, 4, 3)).astype(np.float32)
    np.savez(path, x=x, y=np.array([0, 1, 0, 1, 0, 1]))
    d = load_data(DataSpec(source=f"npz:{path}"))
    assert d.input_shape == (3, 5, 4)
    assert np.array_equal(d.x[2, 1], x[2, :, :, 1])
    first = load_data(DataSpec(source=f"npz:{path}", layout="channels_first"))
    assert first.input_shape == (5, 4, 3)


def test_target_classes_counted_equal_numpys_unique():
    """Small non-negative whole-number labels are counted, not sorted: the same classes and
    ids."""
    from dltui.engine.data.dataset import encode_target
    from dltui.engine.data.labels import unique_inverse

    rng = np.random.default_rng(0)
    for raw in (rng.integers(0, 5, 10_000), np.array([7, 3, 7, 0]), np.array([-1, 1, -1]),
                np.array([True, False]), np.array(["b", "a", "b"]), np.array([2.0, 1.0, 2.0]),
                np.array([70_000, 3, 70_000]), np.array([3.0, 0.0, 3.0]), np.array([0.5, 1.0]),
                np.array([1.0, np.inf, np.nan]), np.array([3, 1], dtype=np.uint8)):
        values, ids = unique_inverse(raw)
        want_values, want_ids = np.unique(raw, return_inverse=True)
        assert values.dtype == want_values.dtype
        np.testing.assert_array_equal(values, want_values)
        np.testing.assert_array_equal(ids, want_ids)
    assert encode_target(np.array([7, 3, 7, 0]), "auto", "t")[1:] == ("multiclass", ["0", "3", "7"])
    with pytest.raises(InputError, match="2 missing values"):
        encode_target(np.array([0.0, np.nan, 1.0, np.nan]), "auto", "t")


def test_the_fingerprint_hashed_in_a_thread_is_the_one_hashed_in_place():
    from dltui.engine.data.dataset import Dataset
    from dltui.engine.data.fingerprint import fingerprint

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5000, 8)).astype(np.float32), rng.integers(0, 2, 5000)
    data = Dataset(x, y, "binary", ["0", "1"], False, "t")
    data.hash_in_background()
    assert data.fingerprint() == fingerprint(x, y, ["0", "1"])
    assert data.fingerprint() == data.fingerprint()  # known: not hashed again
    data.x = x.copy()
    data.x[17, 3] += 1  # new arrays are hashed anew, one changed cell a different hash
    assert data.fingerprint() == fingerprint(data.x, y, ["0", "1"]) != fingerprint(x, y, ["0", "1"])
