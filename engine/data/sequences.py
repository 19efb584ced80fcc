"""Synthetic sequence data that needs no download: token sequences for the IMDB-style text recipe,
noisy frame sequences that spell a hidden symbol string (for CTC), and clips of a moving blob
(the book's 5D video tensors)."""

from __future__ import annotations

import numpy as np

from ..spec import DataSpec

Loaded = tuple[np.ndarray, np.ndarray, str, list[str], bool, str]


def tokens(spec: DataSpec) -> Loaded:
    """Reviews as word ids (0 pads). Both classes share a common vocabulary; each also has its
    own 'sentiment' words that turn up a little more often, as in IMDB."""
    rng = np.random.default_rng(spec.seed)
    n, length = spec.samples or 4000, spec.timesteps or 80
    vocab = spec.vocab_size or 2000
    y = rng.integers(0, 2, n)
    common = np.arange(1, vocab)
    marked = rng.permutation(common)[: 2 * (vocab // 20)].reshape(2, -1)  # 5% per class
    x = np.zeros((n, length), dtype=np.int64)
    noise = 0.1 if spec.noise is None else spec.noise
    for i in range(n):
        size = rng.integers(length // 2, length + 1)
        words = rng.choice(common, size)
        cues = rng.random(size) < noise
        words[cues] = rng.choice(marked[y[i]], int(cues.sum()))
        x[i, :size] = words
    return x, y.astype(np.int64), "binary", ["negative", "positive"], False, "synthetic reviews"


def multi_hot(ids: np.ndarray, vocab: int) -> np.ndarray:
    """The book's first text model: each review as a vector with a 1 for every word it contains."""
    out = np.zeros((len(ids), vocab), dtype=np.float32)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    out[rows, ids.reshape(-1)] = 1.0
    out[:, 0] = 0.0  # padding is not a word
    return out


def ctc_sequences(spec: DataSpec) -> Loaded:
    """Each sample is `timesteps` frames of noisy one-hot features. The frames spell a hidden
    string of 2-6 symbols: each symbol held for 1-3 frames, blanks (class 0) between and after.
    The target is the string alone, padded with 0, so the model must learn to align (CTC)."""
    rng = np.random.default_rng(spec.seed)
    n, frames = spec.samples or 3000, spec.timesteps or 30
    symbols = spec.classes or 5
    noise = 0.3 if spec.noise is None else spec.noise
    longest = 6
    x = np.zeros((n, frames, symbols + 1), dtype=np.float32)
    y = np.zeros((n, longest), dtype=np.int64)
    for i in range(n):
        labels: list[int] = []
        steps: list[int] = []
        for _ in range(rng.integers(2, longest + 1)):
            s = int(rng.integers(1, symbols + 1))
            hold = int(rng.integers(1, 4))
            gap = int(rng.integers(1, 3))
            if len(steps) + hold + gap > frames:
                break
            labels.append(s)
            steps += [s] * hold + [0] * gap
        steps += [0] * (frames - len(steps))
        x[i, np.arange(frames), steps] = 1.0
        y[i, :len(labels)] = labels
    x += rng.normal(0, noise, x.shape).astype(np.float32)
    names = ["<blank>", *[chr(ord("a") + k) for k in range(symbols)]]
    return x, y, "sequence", names, False, "noisy frames spelling symbol strings"


DIRECTIONS = ["right", "left", "down", "up"]


def video_direction(spec: DataSpec) -> Loaded:
    """Clips (frames, 1, size, size) of a bright blob moving right, left, down or up from a random
    start, over background noise; the class is the direction."""
    rng = np.random.default_rng(spec.seed)
    n, frames, size = spec.samples or 1200, spec.timesteps or 8, spec.features or 16
    noise = 0.3 if spec.noise is None else spec.noise
    y = rng.integers(0, 4, n)
    x = rng.normal(0, noise, (n, frames, 1, size, size)).astype(np.float32)
    grid = np.arange(size)
    for i in range(n):
        r, c = rng.integers(3, size - 3, 2)
        dr, dc = [(0, 1), (0, -1), (1, 0), (-1, 0)][y[i]]
        for t in range(frames):
            rr = np.clip(r + dr * t, 0, size - 1)
            cc = np.clip(c + dc * t, 0, size - 1)
            blob = np.exp(-((grid[:, None] - rr) ** 2 + (grid[None, :] - cc) ** 2) / 2.0)
            x[i, t, 0] += blob.astype(np.float32)
    return x, y.astype(np.int64), "multiclass", DIRECTIONS, False, "moving-blob clips"
