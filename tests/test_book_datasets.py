"""The book's data sets: fetched from a test server on 127.0.0.1 serving small files in the
real formats (nothing is ever downloaded from the internet), checked by SHA-256 before anything
is parsed, cached, resumed, refused in one line, and read exactly as keras.datasets reads them."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dltui.engine.data import book_sets, downloads
from dltui.engine.data.dataset import load_data
from dltui.engine.errors import InputError
from dltui.engine.spec import DataSpec

RNG = np.random.default_rng(7)


def ragged(n: int, top: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = [int(w) for w in RNG.integers(1, top, RNG.integers(3, 40))]
    return out


def fixture_files(folder: Path) -> dict[str, Path]:
    """Small files laid out as Keras's are (object arrays of word-id lists, uint8 images)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "imdb.npz": dict(x_train=ragged(40, 60), y_train=RNG.integers(0, 2, 40),
                         x_test=ragged(24, 60), y_test=RNG.integers(0, 2, 24)),
        "reuters.npz": dict(x=ragged(60, 80), y=np.tile(np.arange(5), 12)),
        "boston_housing.npz": dict(x=RNG.normal(size=(50, 13)), y=RNG.uniform(5, 50, 50)),
        "mnist.npz": dict(x_train=RNG.integers(0, 256, (200, 28, 28), dtype=np.uint8),
                          y_train=np.tile(np.arange(10, dtype=np.uint8), 20),
                          x_test=RNG.integers(0, 256, (20, 28, 28), dtype=np.uint8),
                          y_test=np.tile(np.arange(10, dtype=np.uint8), 2)),
    }
    out = {}
    for name, arrays in files.items():
        np.savez(folder / name, **arrays)
        out[name] = folder / name
    return out


class Server:
    """Serves a folder on 127.0.0.1, with HTTP Range; `truncate_next` cuts the next response
    short after announcing the whole length."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.truncate_next, self.requests = folder, False, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Range")))
                path = outer.folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.truncate_next:
                    outer.truncate_next = False
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, self.port = self.httpd.server_address[:2]
        assert host == "127.0.0.1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    served = fixture_files(tmp_path / "served")
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {name}\n"
                            for name, p in served.items()))
    server = Server(tmp_path / "served")
    monkeypatch.setenv("DLTUI_DATASETS_URL", server.url)
    monkeypatch.setenv("DLTUI_DATASETS_SHA256", str(sums))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield server
    server.stop()


def spec(name: str, **kw) -> DataSpec:
    return DataSpec(source=f"builtin:{name}", **kw)


def test_each_set_downloads_once_then_loads_from_the_cache(mirror, tmp_path):
    imdb = load_data(spec("imdb", vectorize="multi_hot", vocab_size=50))
    assert imdb.x.shape == (64, 50) and imdb.task == "binary"
    assert set(np.unique(imdb.x)) == {0.0, 1.0} and imdb.x[:, 1].all()  # every review starts
    assert list(imdb.test_rows) == list(range(40, 64))
    seqs = load_data(spec("imdb", timesteps=12))
    assert seqs.x.shape == (64, 12) and seqs.x.dtype == np.int64
    reuters = load_data(spec("reuters", vectorize="multi_hot"))
    assert reuters.x.shape == (60, 10_000) and reuters.classes[:2] == ["cocoa", "grain"]
    assert len(reuters.test_rows) == 12  # Keras's 20 %
    boston = load_data(spec("boston_housing"))
    assert boston.task == "regression" and boston.x.shape == (50, 13) and len(boston.test_rows) == 10
    mnist = load_data(spec("mnist", view="image"))
    assert mnist.x.shape == (220, 1, 28, 28) and 0.0 <= mnist.x.min() and mnist.x.max() <= 1.0
    assert load_data(spec("mnist")).x.shape == (220, 784)
    assert len(mirror.requests) == 4  # one download per file
    mirror.stop()  # offline from here: the cache answers
    assert load_data(spec("boston_housing")).x.shape == (50, 13)
    assert sorted(p.name for p in (tmp_path / "cache" / "dltui" / "datasets").glob("*.npz")) == [
        "boston_housing.npz", "imdb.npz", "mnist.npz", "reuters.npz"]


def test_words_are_numbered_and_shuffled_as_keras_numbers_them(mirror, tmp_path, monkeypatch):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from keras.src.datasets import boston_housing, imdb, reuters

    served = tmp_path / "served"  # Keras reads the very files the server holds
    monkeypatch.setattr(imdb, "get_file", lambda *a, **k: str(served / "imdb.npz"))
    monkeypatch.setattr(reuters, "get_file", lambda *a, **k: str(served / "reuters.npz"))
    monkeypatch.setattr(boston_housing, "get_file", lambda *a, **k: str(served / "boston_housing.npz"))
    (xtr, ytr), (xte, yte) = keras.datasets.imdb.load_data(num_words=30)
    ours = load_data(spec("imdb", timesteps=60, vocab_size=30))
    for row, seq in zip(ours.x, list(xtr) + list(xte), strict=True):
        assert list(row[row > 0]) == list(seq)
    assert list(ours.y) == list(ytr) + list(yte)
    (xtr, ytr), (xte, yte) = keras.datasets.reuters.load_data(num_words=10_000)  # the book
    ours = load_data(spec("reuters", timesteps=60))
    assert [list(r[r > 0]) for r in ours.x] == [list(s) for s in list(xtr) + list(xte)]
    assert len(xte) == len(ours.test_rows)
    (xtr, ytr), (xte, yte) = keras.datasets.boston_housing.load_data()
    ours = load_data(spec("boston_housing"))
    np.testing.assert_allclose(ours.x, np.concatenate([xtr, xte]), rtol=1e-6)
    np.testing.assert_allclose(ours.y, np.concatenate([ytr, yte]), rtol=1e-6)


def test_a_file_whose_hash_does_not_match_is_discarded_unread(mirror, tmp_path):
    (tmp_path / "served" / "mnist.npz").write_bytes(b"PK not the real file")
    with pytest.raises(InputError, match=r"mnist.npz: SHA-256 .* discarded unread") as err:
        load_data(spec("mnist"))
    assert "\n" not in str(err.value)
    cache = tmp_path / "cache" / "dltui" / "datasets"
    assert not (cache / "mnist.npz").exists() and not (cache / "partial" / "mnist.npz").exists()


def test_a_cut_download_leaves_no_file_in_the_cache_and_the_next_try_resumes(mirror, tmp_path):
    mirror.truncate_next = True
    with pytest.raises(InputError, match="the next try resumes") as err:
        load_data(spec("imdb", vectorize="multi_hot", vocab_size=50))
    assert str(tmp_path / "cache" / "dltui" / "datasets" / "imdb.npz") in str(err.value)
    cache = tmp_path / "cache" / "dltui" / "datasets"
    assert not (cache / "imdb.npz").exists()
    kept = (cache / "partial" / "imdb.npz").stat().st_size
    assert kept > 0
    assert load_data(spec("imdb", vectorize="multi_hot", vocab_size=50)).x.shape == (64, 50)
    assert mirror.requests[-1] == ("/imdb.npz", f"bytes={kept}-")  # resumed, not restarted
    assert (cache / "imdb.npz").exists() and not (cache / "partial" / "imdb.npz").exists()


def test_a_cached_file_edited_later_is_refused_before_it_is_parsed(mirror, tmp_path):
    load_data(spec("boston_housing"))
    cached = tmp_path / "cache" / "dltui" / "datasets" / "boston_housing.npz"
    cached.write_bytes(cached.read_bytes()[:-10])
    with pytest.raises(InputError, match="delete it and run `dltui datasets fetch` again"):
        load_data(spec("boston_housing"))


def test_a_pickle_that_would_run_code_is_refused_even_when_its_hash_is_vouched_for(mirror,
                                                                                   tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([Boom()], dtype=object), allow_pickle=True)
    import zipfile
    bad = tmp_path / "served" / "reuters.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x.npy", buf.getvalue())
        z.writestr("y.npy", b"")
    sums = Path(os.environ["DLTUI_DATASETS_SHA256"])
    vouched = f"{hashlib.sha256(bad.read_bytes()).hexdigest()}  reuters.npz"
    sums.write_text("\n".join([*(ln for ln in sums.read_text().splitlines()
                                 if "reuters" not in ln), vouched]) + "\n")
    with pytest.raises(InputError, match=r"not a readable dataset file.*refusing posix.system"):
        load_data(spec("reuters"))
    assert not (tmp_path / "pwned").exists()


def test_offline_is_one_line_naming_the_url_and_where_to_put_the_file(tmp_path):
    env = {**os.environ, "DLTUI_DATASETS_URL": "http://127.0.0.1:9/", "XDG_CACHE_HOME":
           str(tmp_path / "cache"), "CI": "true"}
    env.pop("DLTUI_DATASETS_SHA256", None)
    out = subprocess.run([sys.executable, "-m", "dltui.tui", "datasets", "fetch", "mnist"],
                         capture_output=True, text=True, env=env, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    target = tmp_path / "cache" / "dltui" / "datasets" / "mnist.npz"
    assert "http://127.0.0.1:9/mnist.npz" in out.stderr and str(target) in out.stderr


def test_the_listing_shows_sizes_and_cache_state_and_a_run_uses_the_books_test_set(mirror,
                                                                                   tmp_path):
    env = {**os.environ, "CI": "true"}
    fetched = subprocess.run([sys.executable, "-m", "dltui.tui", "datasets", "fetch", "boston_housing"],
                             capture_output=True, text=True, env=env, timeout=120,
                             stdin=subprocess.DEVNULL)
    assert fetched.returncode == 0, fetched.stderr
    listed = subprocess.run([sys.executable, "-m", "dltui.tui", "datasets"], capture_output=True,
                            text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    row = next(ln for ln in listed.stdout.splitlines() if "builtin:boston_housing" in ln)
    assert "0.1 MB" in row and "cached" in row
    assert "missing" in next(ln for ln in listed.stdout.splitlines() if "builtin:imdb" in ln)
    mirror.stop()
    ran = subprocess.run([sys.executable, "-m", "dltui.tui", "run", "book-boston", "--set",
                          "train.epochs=2", "--set", "validation.k=2", "--runs-dir",
                          str(tmp_path / "runs"), "--json"], capture_output=True, text=True,
                         env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    import json
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["test_size"] == 10  # the book's own test rows
    pooled = subprocess.run([sys.executable, "-m", "dltui.tui", "run", "book-boston", "--set",
                             "validation.test_fraction=0.2", "--runs-dir", str(tmp_path / "runs")],
                            capture_output=True, text=True, env=env, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert pooled.returncode == 2 and 'data.split = "pooled"' in pooled.stderr


def test_the_registry_and_the_published_hashes_agree_with_keras_source():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    import inspect

    from keras.src.datasets import boston_housing, imdb, mnist, reuters

    for module, name in ((imdb, "imdb"), (reuters, "reuters"),
                         (boston_housing, "boston_housing"), (mnist, "mnist")):
        source = inspect.getsource(module.load_data)
        assert book_sets.FILES[name].sha256 in source, name
        assert downloads.ORIGIN in source


@pytest.mark.parametrize("name", ["book-imdb", "book-reuters", "book-boston", "book-mnist-dense",
                                  "book-mnist-convnet"])
def test_each_book_preset_prepares_on_its_data_and_keeps_the_books_test_set(mirror, name):
    from dltui.engine import load_preset, prepare

    preset, _ = load_preset(name)
    assert preset.data.source.removeprefix("builtin:") in book_sets.FILES
    assert "book" in preset.description and "Downloads" in preset.description
    prep = prepare(preset)
    assert len(prep.plan.test_idx) == len(prep.data.test_rows) > 0
    assert not set(prep.plan.test_idx) & set(np.concatenate([s.train_idx for s in prep.plan.splits]))
