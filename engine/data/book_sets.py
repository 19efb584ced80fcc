"""The book's data sets as `keras.datasets` gives them: IMDB, Reuters, Boston housing, MNIST.

Each is read from the file Keras downloads (see `downloads`), shuffled with Keras's seed 113
where Keras shuffles, words numbered as Keras numbers them (1 starts a review, 2 stands for a
word outside the `num_words` most frequent, real words from 3 on), and returned as the training
rows followed by the set's own test rows, which become the run's test part (`data.split`).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..spec import DataSpec
from .downloads import RemoteFile, ensure

SEED = 113  # keras.datasets' shuffle seed
START, OOV, INDEX_FROM = 1, 2, 3
NUM_WORDS, MAXLEN = 10_000, 500  # the book's num_words; a padded review's length

FILES = {
    "imdb": RemoteFile("imdb.npz", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
                       17_464_789),
    "reuters": RemoteFile("reuters.npz",
                          "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
                          2_110_848),
    "boston_housing": RemoteFile("boston_housing.npz",
                                 "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
                                 57_026),
    "mnist": RemoteFile("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                        11_490_434),
}
ABOUT = {
    "imdb": "IMDB reviews (25,000 train, 25,000 test), positive or negative (book ch. 3)",
    "reuters": "Reuters newswires (8,982 train, 2,246 test), 46 topics (book ch. 3)",
    "boston_housing": "Boston house prices (404 train, 102 test), 13 features (book ch. 3)",
    "mnist": "MNIST digits (60,000 train, 10,000 test), 28x28 grey images (book ch. 2, 5)",
}
# Which data settings each set reads (vocab_size is Keras's num_words, timesteps its maxlen).
PARAMS = {"imdb": {"vocab_size", "timesteps"}, "reuters": {"vocab_size", "timesteps"},
          "boston_housing": set(), "mnist": set()}
REUTERS_TOPICS = (
    "cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade reserves "
    "ship cotton carcass crude nat-gas cpi money-fx interest gnp meal-feed alum oilseed gold tin "
    "strategic-metal livestock retail ipi iron-steel rubber heat jobs lei bop zinc orange "
    "pet-chem dlr gas silver wpi hog lead").split()


@dataclass
class BookData:
    x: np.ndarray
    y: np.ndarray
    task: str
    classes: list[str]
    about: str
    n_test: int  # the last n_test rows are the set's own test set


# Globals that rebuilding a numpy object array needs, and nothing else (Keras's own list): a
# file whose hash matched is still read as if it might not be Keras's.
_ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                      ("numpy.core.multiarray", "_reconstruct"),
                      ("numpy._core.multiarray", "_reconstruct")})


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def read_npz(path: object) -> dict[str, np.ndarray]:
    """An .npz whose object arrays are unpickled with numpy's array globals alone."""
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:  # type: ignore[arg-type]
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                fp = io.BytesIO(archive.read(member))
                try:
                    out[member[:-4]] = np.lib.format.read_array(fp, allow_pickle=False)
                except ValueError:  # an object array: numpy stores it as a pickle
                    fp.seek(0)
                    major, _ = np.lib.format.read_magic(fp)
                    reader = (np.lib.format.read_array_header_1_0 if major == 1
                              else np.lib.format.read_array_header_2_0)
                    reader(fp)
                    out[member[:-4]] = _ArraysOnly(fp).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, EOFError, OSError) as err:
        raise InputError(f"data.source: {path}: not a readable dataset file ({err})") from None
    return out


def load_book(name: str, spec: DataSpec) -> BookData:
    for key in ("samples", "noise", "timesteps", "features", "classes", "vocab_size"):
        if getattr(spec, key) is not None and key not in PARAMS[name]:
            takers = sorted(n for n, keys in PARAMS.items() if key in keys)
            raise InputError(f"data.{key}: '{name}' does not take it (only {', '.join(takers)})")
    if spec.view == "image" and name != "mnist":
        raise InputError(f"data.view: 'image' is only for digits and mnist; '{name}' is flat")
    if spec.vectorize != "none" and name not in ("imdb", "reuters"):
        raise InputError(f"data.vectorize: only imdb and reuters are words; '{name}' is not")
    arrays = read_npz(ensure(FILES[name]))
    try:
        return _LOADERS[name](arrays, spec)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise InputError(f"data.source: {FILES[name].name}: not the layout keras.datasets "
                         f"writes ({type(err).__name__}: {err})") from None


def _shuffled(rng: np.random.RandomState, *arrays: np.ndarray) -> list[np.ndarray]:
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def _words(seqs: list[list[int]] | np.ndarray, spec: DataSpec) -> np.ndarray:
    """Keras's numbering, then multi-hot vectors (the book's ch. 3) or ids padded and cut at
    the front to `timesteps` as `pad_sequences` does (for Embedding layers)."""
    vocab = spec.vocab_size or NUM_WORDS
    seqs = [[START] + [w + INDEX_FROM if w + INDEX_FROM < vocab else OOV for w in s] for s in seqs]
    if spec.vectorize == "multi_hot":
        out = np.zeros((len(seqs), vocab), dtype=np.float32)
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        cols = np.fromiter((w for s in seqs for w in s), dtype=np.int64, count=int(lengths.sum()))
        out[np.repeat(np.arange(len(seqs)), lengths), cols] = 1.0
        return out
    steps = spec.timesteps or MAXLEN
    ids = np.zeros((len(seqs), steps), dtype=np.int64)
    for i, s in enumerate(seqs):
        tail = s[-steps:]
        ids[i, steps - len(tail):] = tail
    return ids


def _imdb(a: dict[str, np.ndarray], spec: DataSpec) -> BookData:
    rng = np.random.RandomState(SEED)
    x_train, y_train = _shuffled(rng, a["x_train"], a["y_train"])
    x_test, y_test = _shuffled(rng, a["x_test"], a["y_test"])
    x = _words(list(x_train) + list(x_test), spec)
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    return BookData(x, y, "binary", ["negative", "positive"], ABOUT["imdb"], len(y_test))


def _reuters(a: dict[str, np.ndarray], spec: DataSpec) -> BookData:
    xs, labels = _shuffled(np.random.RandomState(SEED), a["x"], a["y"])
    n_train = int(len(xs) * 0.8)
    classes = list(REUTERS_TOPICS) if int(labels.max()) < len(REUTERS_TOPICS) else [
        str(c) for c in range(int(labels.max()) + 1)]
    return BookData(_words(list(xs), spec), labels.astype(np.int64), "multiclass", classes,
                    ABOUT["reuters"], len(xs) - n_train)


def _boston(a: dict[str, np.ndarray], spec: DataSpec) -> BookData:
    x, y = _shuffled(np.random.RandomState(SEED), a["x"], a["y"])
    n_train = int(len(x) * 0.8)
    return BookData(x.astype(np.float32), y.astype(np.float32), "regression", [],
                    ABOUT["boston_housing"], len(x) - n_train)


def _mnist(a: dict[str, np.ndarray], spec: DataSpec) -> BookData:
    x = np.concatenate([a["x_train"], a["x_test"]]).astype(np.float32) / 255.0  # as the book
    y = np.concatenate([a["y_train"], a["y_test"]]).astype(np.int64)
    x = x[:, None] if spec.view == "image" else x.reshape(len(x), -1)
    return BookData(x, y, "multiclass", [str(d) for d in range(10)], ABOUT["mnist"],
                    len(a["y_test"]))


_LOADERS = {"imdb": _imdb, "reuters": _reuters, "boston_housing": _boston, "mnist": _mnist}
