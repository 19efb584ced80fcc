"""The data rules: no input trains silently wrong. Each class of bad input has a file that triggers
it and one close to it that must still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import BINARY, REGRESSION, preset
from dltui.engine.data.dataset import load_data
from dltui.engine.errors import InputError
from dltui.engine.preflight import prepare
from dltui.engine.presets import validate_preset
from dltui.engine.spec import DataSpec

# every rule on both typed passes of the CSV reader (pyarrow's and pandas')
pytestmark = pytest.mark.usefixtures("csv_reader")


def csv(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"csv:{path}"


def rows(n: int, make) -> str:
    return "".join(make(i) for i in range(n))


def test_repeated_header_names_are_refused_not_dropped(tmp_path):
    src = csv(tmp_path, "a,a,y\n1,2,0\n3,4,1\n")
    with pytest.raises(InputError, match=r"repeats column name\(s\) 'a'"):
        load_data(DataSpec(source=src))
    ok = csv(tmp_path, "a,b,y\n1,2,0\n3,4,1\n", "ok.csv")
    assert load_data(DataSpec(source=ok)).input_shape == (2,)


@pytest.mark.parametrize("cell", ["nan", "-nan", "+NaN", "NAN", "NaN"])
def test_nan_spellings_are_missing_values(tmp_path, cell):
    src = csv(tmp_path, f"a,b,y\n1,2,0\n{cell},4,1\n5,6,0\n7,8,1\n")
    with pytest.raises(InputError, match=r"missing values in column\(s\) a \(1\), the first at line 3"):
        load_data(DataSpec(source=src))
    filled = load_data(DataSpec(source=src, missing="mean"))
    assert np.isnan(filled.x[1, 0]) and len(filled) == 4  # filled per split, from training rows
    assert len(load_data(DataSpec(source=src, missing="drop"))) == 3


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "-Infinity", "1e39", "-3.5e38"])
@pytest.mark.parametrize("missing", ["error", "mean", "zero", "drop"])
def test_infinities_and_float32_overflow_are_always_errors(tmp_path, cell, missing):
    src = csv(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n5,6,0\n")
    with pytest.raises(InputError, match=rf"column 'b', line 3: value '{cell}'"):
        load_data(DataSpec(source=src, missing=missing))


def test_non_finite_target_is_an_error_naming_the_target(tmp_path):
    src = csv(tmp_path, "a,y\n1,0.5\n2,inf\n3,1.5\n")
    with pytest.raises(InputError, match=r"target column 'y', line 3: value 'inf' is infinite"):
        load_data(DataSpec(source=src))


def test_a_junk_cell_in_a_numeric_target_is_named_not_made_a_class(tmp_path):
    body = rows(80, lambda i: f"{i},{i * 1.5}\n") + "80,oops\n"
    src = csv(tmp_path, "a,y\n" + body)
    with pytest.raises(InputError, match=r"target column 'y' is numeric but line 82 has 'oops'"):
        load_data(DataSpec(source=src))


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    src = csv(tmp_path, 'a,note,y\n1,"two\nlines",0\n\n2,x,1\noops,y,0\n4,z,1\n5,w,0\n')
    with pytest.raises(InputError, match="line 6 has 'oops'"):
        load_data(DataSpec(source=src, drop=["note"]))


def test_ragged_rows_name_their_line(tmp_path):
    src = csv(tmp_path, "a,b,y\n1,2,0\n3,4\n5,6,0\n")
    with pytest.raises(InputError, match="line 3 has 2 fields, the header has 3"):
        load_data(DataSpec(source=src))


@pytest.mark.parametrize("missing", ["drop", "zero", "mean"])
def test_missing_targets_follow_one_rule_in_every_fill_mode(tmp_path, missing):
    src = csv(tmp_path, "a,y\n1,0\n2,\n3,1\n4,0\n5,1\n")
    d = load_data(DataSpec(source=src, missing=missing))
    assert len(d) == 4
    assert any("without a target value removed" in n for n in d.notes)


def test_missing_targets_are_an_error_by_default(tmp_path):
    src = csv(tmp_path, "a,y\n1,0\n2,\n3,1\n")
    with pytest.raises(InputError, match=r"target column 'y' has 1 missing value.*never filled"):
        load_data(DataSpec(source=src))


def test_class_names_that_look_like_missing_markers_stay_classes(tmp_path):
    src = csv(tmp_path, "a,grade\n1,A\n2,NA\n3,None\n4,A\n5,NA\n")
    d = load_data(DataSpec(source=src))
    assert d.classes == ["A", "NA", "None"] and len(d) == 5
    assert any("taken as class name" in n and "'NA'" in n for n in d.notes)


def test_text_columns_read_once_keep_their_cells_as_written(tmp_path):
    """Text columns come from the typed pass itself (no second read of the file); where pandas
    read a missing marker as a gap, a text target and the messages still see the cell as
    written."""
    src = csv(tmp_path, "grade,city,a,y\nA,Paris,1,0\nNA,NA,2,1\nNone, Lyon ,3,0\nA,Lyon,4,1\n")
    with pytest.raises(InputError, match=r"missing values in column\(s\) city \(1\), the first at "
                                         r"line 3 in 'city' \('NA'\)"):
        load_data(DataSpec(source=src, target="grade"))
    d = load_data(DataSpec(source=src, target="grade", missing="zero"))
    assert d.classes == ["A", "NA", "None"] and len(d) == 4
    assert d.x[:, :2].tolist() == [[0, 1], [0, 0], [1, 0], [1, 0]]  # Lyon, Paris one-hot; trimmed


def test_id_like_text_column_is_refused_with_its_count(tmp_path):
    body = rows(1200, lambda i: f"user{i},{i % 7},{i % 2}\n")
    src = csv(tmp_path, "uid,a,y\n" + body)
    with pytest.raises(InputError, match=r"text column 'uid' has 1,200 distinct values.*data.drop"):
        load_data(DataSpec(source=src))
    assert load_data(DataSpec(source=src, drop=["uid"])).input_shape == (1,)


def npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.mark.parametrize(("x", "why"), [
    (np.array([["a", "b"], ["c", "d"]]), r"array 'x' has dtype <U1 \(text\)"),
    (np.ones((2, 2), dtype=complex), r"array 'x' has dtype complex128 \(complex\)"),
    (np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]").reshape(2, 1),
     r"dtype datetime64\[D\] \(datetime\)"),
    (np.zeros((2, 0), np.float32), r"shape \(2, 0\): a sample with no features"),
])
def test_npz_arrays_that_are_not_plain_numbers_are_named(tmp_path, x, why):
    with pytest.raises(InputError, match=why):
        load_data(DataSpec(source=npz(tmp_path, x=x, y=np.array([0, 1]))))


def test_npz_zero_d_and_non_finite_arrays_are_named(tmp_path):
    with pytest.raises(InputError, match=r"array 'y' is a single value \(0-d\)"):
        load_data(DataSpec(source=npz(tmp_path, x=np.ones((2, 2)), y=np.array(1))))
    x = np.ones((4, 2), np.float32)
    x[1, 0], x[2, 1] = np.nan, np.inf
    with pytest.raises(InputError, match=r"array 'x' has 2 non-finite value\(s\) \(1 NaN, 1 infinite\)"):
        load_data(DataSpec(source=npz(tmp_path, x=x, y=np.array([0, 1, 0, 1]))))


def test_integer_features_feed_dense_layers_as_floats(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (40, 6))
    y = np.arange(40) % 2
    spec = preset(BINARY, data={"source": npz(tmp_path, x=x, y=y)})
    prep = prepare(validate_preset(spec, "t"))
    assert prep.data.x.dtype == np.float32


def test_token_ids_beyond_the_embedding_are_found_before_training(tmp_path):
    x = np.random.default_rng(0).integers(0, 60, (40, 5))
    layers = [{"type": "Embedding", "input_dim": 50, "output_dim": 4},
              {"type": "Flatten"}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]
    spec = preset(BINARY, data={"source": npz(tmp_path, x=x, y=np.arange(40) % 2)},
                  model={"layers": layers})
    with pytest.raises(InputError, match=r"model.layers\[0\].input_dim: the data's largest token id is 5\d"):
        prepare(validate_preset(spec, "t"))
    x[0, 0] = -1
    spec = preset(spec, data={"source": npz(tmp_path, x=x, y=np.arange(40) % 2)})
    with pytest.raises(InputError, match="negative token id -1"):
        prepare(validate_preset(spec, "t"))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_bounded_activation_on_a_regression_output_is_a_warning(activation):
    layers = [{"type": "Dense", "units": 8, "activation": "relu"},
              {"type": "Dense", "units": 1, "activation": activation}]
    prep = prepare(validate_preset(preset(REGRESSION, model={"layers": layers}), "t"))
    found = [n for n in prep.notices if n.code == "bounded-output"]
    assert found and activation in found[0].message and "target runs from 25" in found[0].message
    plain = prepare(validate_preset(REGRESSION, "t"))
    assert not [n for n in plain.notices if n.code == "bounded-output"]


def test_a_huge_layer_is_refused_before_anything_is_allocated():
    from conftest import PeakGrowth

    layers = [{"type": "Dense", "units": 100_000_000, "activation": "relu"},
              {"type": "Dense", "units": 1, "activation": "sigmoid"}]
    with PeakGrowth() as grown, pytest.raises(
            InputError, match=r"model: 3,200,000,001 parameters .* need about .* GiB"):
        prepare(validate_preset(preset(BINARY, model={"layers": layers}), "t"))
    assert grown.mb < 200  # the 12.8 GB of weights were never made


def test_layer_rows_count_a_huge_layer_without_allocating():
    from conftest import PeakGrowth
    from dltui.engine.model.layers import Dense
    from dltui.engine.model.shapes import layer_rows

    with PeakGrowth() as grown:
        rows_ = layer_rows([Dense(units=100_000_000)], (30,))
    assert rows_[0].params == 3_100_000_000
    assert grown.mb < 200


def test_a_junk_cell_deep_in_a_big_numeric_column_is_still_named(tmp_path):
    """pyarrow guesses a column's type from its first block; a junk cell far below must still be
    found by the text path and named with its line, not crash or become a category."""
    body = rows(60_000, lambda i: f"{i % 97},{i % 2}\n")
    src = csv(tmp_path, "a,y\n" + body + "1e,0\n" + rows(10, lambda i: f"{i},{i % 2}\n"))
    with pytest.raises(InputError, match=r"column 'a' is numeric but line 60002 has '1e'"):
        load_data(DataSpec(source=src))


@pytest.mark.parametrize("marker", ["nOne", "n/A", " NA ", "?"])
def test_unusual_spellings_of_missing_markers_follow_the_same_rule(tmp_path, marker):
    src = csv(tmp_path, f"a,b,y\n1,2,0\n{marker},4,1\n5,6,0\n7,8,1\n")
    with pytest.raises(InputError, match=r"missing values in column\(s\) a \(1\), the first at line 3"):
        load_data(DataSpec(source=src))
    assert len(load_data(DataSpec(source=src, missing="drop"))) == 3


def _messy_frame():
    import pandas as pd

    n = 40
    return pd.DataFrame({
        "age": [float(i) if i % 7 else None for i in range(n)],
        "city": pd.Categorical([["oslo", "rome", None][i % 3] for i in range(n)]),
        "member": [bool(i % 2) for i in range(n)],
        "id": list(range(n)),
        "y": [["yes", "no"][i % 2] for i in range(n)],
    })


@pytest.mark.parametrize("kind", ["parquet", "feather"])
def test_parquet_and_feather_sources_follow_the_csv_rules(tmp_path, kind):
    """The same table as CSV, Parquet and Feather gives the same features, classes and notes;
    nulls are missing values under data.missing, and errors name rows."""
    frame = _messy_frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    path = tmp_path / f"t.{kind}"
    getattr(frame, f"to_{kind}")(path)
    spec = {"target": "y", "drop": ["id"], "missing": "mean"}
    from_csv = load_data(DataSpec(source=f"csv:{tmp_path / 't.csv'}", **spec))
    ours = load_data(DataSpec(source=f"{kind}:{path}", **spec))
    assert ours.classes == from_csv.classes
    # booleans are spelled true/false by arrow and True/False by pandas' CSV writer
    assert [n.lower() for n in ours.feature_names] == [n.lower() for n in from_csv.feature_names]
    np.testing.assert_array_equal(np.isnan(ours.x), np.isnan(from_csv.x))
    np.testing.assert_array_equal(np.nan_to_num(ours.x), np.nan_to_num(from_csv.x))
    np.testing.assert_array_equal(ours.y, from_csv.y)
    with pytest.raises(InputError, match=rf"t\.{kind}: missing values in column\(s\) age \(6\), "
                                         r"city \(13\), the first at row 1"):
        load_data(DataSpec(source=f"{kind}:{path}", target="y", drop=["id"]))


def test_a_model_trained_on_parquet_predicts_parquet_rows(tmp_path):
    from typer.testing import CliRunner

    from dltui.engine import load_run
    from dltui.tui.cli import app

    frame = _messy_frame()
    frame.to_parquet(tmp_path / "t.parquet")
    raw = preset(BINARY, data={"source": f"parquet:{tmp_path / 't.parquet'}", "target": "y",
                               "drop": ["id"], "missing": "mean"}, train={"epochs": 2})
    from dltui.engine.presets import preset_to_toml

    (tmp_path / "p.toml").write_text(preset_to_toml(validate_preset(raw, "test")))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "p.toml"), "--runs-dir",
                                      str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    predicted = load_run(run).predict(tmp_path / "t.parquet")
    assert len(predicted.rows) == len(frame) and set(predicted.labels or []) <= {"yes", "no"}


def test_npy_folders_are_memory_mapped_and_follow_the_array_rules(tmp_path):
    """`npy:FOLDER`: float32 x.npy stays on disk (memory-mapped, so data larger than RAM can
    train), trains and predicts like an NPZ; other dtypes are converted with a note."""
    from dltui.engine.preflight import prepare as prep_run

    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 1, 6, 6)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    data = load_data(DataSpec(source=f"npy:{folder}", layout="channels_first"))
    assert isinstance(data.x, np.memmap) and data.input_shape == (1, 6, 6) and not data.notes
    raw = preset(BINARY, data={"source": f"npy:{folder}", "layout": "channels_first"},
                 model={"layers": [{"type": "Flatten"},
                                   {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                 train={"epochs": 2})
    from dltui.engine import Experiment, load_run

    summary = Experiment(prep_run(validate_preset(raw, "t")), tmp_path / "runs").run()
    assert summary["status"] == "done"
    run = next((tmp_path / "runs").iterdir())
    assert len(load_run(run).predict(folder).rows) == 120
    np.save(folder / "x.npy", x.astype(np.float64))
    converted = load_data(DataSpec(source=f"npy:{folder}", layout="channels_first"))
    assert not isinstance(converted.x, np.memmap) and "converted to float32" in converted.notes[0]
    x[3, 0, 0, 0] = np.nan
    np.save(folder / "x.npy", x)
    with pytest.raises(InputError, match=r"x\.npy: array 'x' has 1 non-finite value"):
        load_data(DataSpec(source=f"npy:{folder}", layout="channels_first"))
    with pytest.raises(InputError, match=r"needs y\.npy"):
        (folder / "y.npy").unlink()
        load_data(DataSpec(source=f"npy:{folder}"))


PARITY_FILES = {
    "clean": "a,b,y\n1,2.5,0\n3,-4e3,1\n5,6,0\n",
    "short row": "a,b,y\n1,2,0\n3,4\n5,6,1\n",
    "long first row": "a,b,y\n1,2,0,9\n3,4,1\n5,6,0\n",
    "long later row": "a,b,y\n1,2,0\n3,4,1,9\n5,6,0\n",
    "trailing comma": "a,b,y\n1,2,0,\n3,4,1,\n",
    "blank lines and spaces": "\n\na,b,y\n\n 1 , 2 ,0\n\n3,4,1\n5,6,0\n\n",
    "markers": "a,b,y\n1,NA,0\nnull,4,1\n5,?,0\n7,8,1\n",
    "missing target": "a,b,y\n1,2,0\n3,4,\n5,6,1\n",
    "text and bool columns": "a,c,f,y\n1,red,True,0\n2,blue,False,1\n3,red,True,0\n",
    "text target": "a,b,y\n1,2,cat\n3,4,dog\n5,6,NA\n",
    "junk cell": "a,b,y\n1,2,0\n3,x4,1\n5,6,0\n",
    "infinity": "a,b,y\n1,2,0\n3,inf,1\n5,6,0\n",
    "float32 overflow": "a,b,y\n1,2,0\n3,1e39,1\n5,6,0\n",
    "quoted numbers": 'a,b,y\n"1","2",0\n"3","4",1\n',
    "quoted newline": 'a,b,y\n1,"2",0\n3,"4\n",1\n',
    "bom": "\ufeffa,b,y\n1,2,0\n3,4,1\n",
    "all missing column": "a,b,y\n1,,0\n3,,1\n5,,0\n",
    "big integers": "a,b,y\n12345678901,2,0\n3,4,1\n",
}


@pytest.mark.parametrize("name", sorted(PARITY_FILES))
@pytest.mark.parametrize("missing", ["error", "mean", "drop"])
def test_both_typed_passes_give_the_same_data_or_the_same_error(tmp_path, monkeypatch, name, missing):
    """CSV reader parity: the typed pass by pandas (big files) and by pyarrow (small ones) load
    the same features, targets, rows, schema and notes, or refuse with the same message."""
    from dltui.engine.data.tables import typed_pass
    from dltui.engine.data.tables.encode import read_csv

    path = tmp_path / "p.csv"
    path.write_text(PARITY_FILES[name], encoding="utf-8")
    outcomes = []
    for threshold in (1 << 62, 0):  # pyarrow's pass, then pandas'
        monkeypatch.setattr(typed_pass, "PANDAS_BYTES", threshold)
        try:
            d = read_csv(path, None, [], missing)
            outcomes.append((d.x.tobytes(), d.x.shape, None if d.y_raw is None else d.y_raw.tolist(),
                             d.rows.tolist(), d.schema, d.notes))
        except InputError as err:
            outcomes.append(str(err))
    assert outcomes[0] == outcomes[1], name


def test_the_pandas_pass_is_used_only_where_it_can_vouch_for_every_field_count(tmp_path, monkeypatch):
    """pandas pads a short row with missing values and cuts a long first row (with a warning):
    such files go to pyarrow's strict reader, whose error names the line; a well-formed file is
    read by pandas alone."""
    from dltui.engine.data.tables import typed_pass
    from dltui.engine.data.tables.encode import read_csv

    monkeypatch.setattr(typed_pass, "PANDAS_BYTES", 0)
    used = []
    original = typed_pass._typed_by_pandas

    def spy(*args):
        cells, approximate = original(*args)
        used.append(cells is not None)
        return cells, approximate

    monkeypatch.setattr(typed_pass, "_typed_by_pandas", spy)
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n" + rows(500, lambda i: f"{i},{i * 0.5},{i % 2}\n"))
    assert read_csv(good, "y", [], "error").x.shape == (500, 2)
    assert used == [True]
    for text, line in (("a,b,y\n1,2,0\n3,4\n5,6,1\n", 3), ("a,b,y\n1,2,0,9\n3,4,1\n", 2)):
        path = tmp_path / f"bad{line}.csv"
        path.write_text(text)
        with pytest.raises(InputError, match=rf"line {line} has \d fields, the header has 3"):
            read_csv(path, "y", [], "error")
    assert used == [True, False, False]
