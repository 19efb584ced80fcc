"""The book's data files, fetched once from where `keras.datasets` fetches them and kept in the
user's cache folder.

IMDB's and Reuters's files hold pickled object arrays, and unpickling runs code: a file is
parsed only once its SHA-256 equals the one Keras publishes for it, checked again at every load
(the cache is the user's to edit). A download goes to `partial/NAME` and is renamed into place
only when whole and matching, so the cache never holds half a file; an interrupted download
resumes from where it stopped (HTTP Range).

`DLTUI_DATASETS_URL` points at a mirror (a folder served over HTTP with the same file names);
`DLTUI_DATASETS_SHA256` names a `sha256sum`-style file of hashes that replace Keras's, for a
mirror whose files differ (the tests' fixture server): it is the user's word for those files.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CHUNK = 1 << 16
Progress = Callable[[str, int, int], None]  # (file name, bytes so far, bytes in all or 0)


@dataclass(frozen=True)
class RemoteFile:
    name: str
    sha256: str  # as published in Keras's source (keras/src/datasets/*.py)
    size: int  # bytes, for the listing and the progress bar before the server says


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "dltui" / "datasets"


def cached_path(file: RemoteFile) -> Path:
    return cache_dir() / file.name


def partial_path(file: RemoteFile) -> Path:
    return cache_dir() / "partial" / file.name


def url_of(file: RemoteFile) -> str:
    base = os.environ.get("DLTUI_DATASETS_URL") or ORIGIN
    return base.rstrip("/") + "/" + file.name


def expected_sha256(file: RemoteFile) -> str:
    listing = os.environ.get("DLTUI_DATASETS_SHA256")
    if not listing:
        return file.sha256
    try:
        lines = Path(listing).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"DLTUI_DATASETS_SHA256: {listing}: cannot read it ({err})") from None
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == file.name:
            return parts[0].lower()
    return file.sha256


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def state(file: RemoteFile) -> str:
    """`cached`, `partial` (a download to resume) or `missing`; a cached file is not hashed
    here (listing stays instant): every load checks it."""
    if cached_path(file).is_file():
        return "cached"
    return "partial" if partial_path(file).is_file() else "missing"


def _by_hand(file: RemoteFile) -> str:
    return f"download {url_of(file)} yourself and put it at {cached_path(file)}"


def verified(file: RemoteFile) -> Path:
    """The cached file, once its hash matches; InputError otherwise."""
    path = cached_path(file)
    digest, want = sha256_of(path), expected_sha256(file)
    if digest != want:
        raise InputError(f"data.source: {path}: SHA-256 {digest[:16]}... is not the published "
                         f"{want[:16]}... (a damaged or different file, never parsed); delete it "
                         "and run `dltui datasets fetch` again")
    return path


def ensure(file: RemoteFile, progress: Progress | None = None) -> Path:
    """The file's verified path in the cache, downloaded first when it is not there."""
    if not cached_path(file).is_file():
        download(file, progress)
    return verified(file)


def download(file: RemoteFile, progress: Progress | None = None) -> None:
    part = partial_path(file)
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"data.source: cannot write the cache folder {part.parent} ({err}); "
                         f"{_by_hand(file)}") from None
    url = url_of(file)
    report = progress or _reporter[0]
    try:
        _fetch(url, part, file, report)
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        kept = part.stat().st_size if part.is_file() else 0
        resume = f"; {kept:,} bytes kept, the next try resumes" if kept else ""
        raise InputError(f"data.source: could not download {url} ({reason}){resume}; offline? "
                         f"{_by_hand(file)}") from None
    digest, want = sha256_of(part), expected_sha256(file)
    if digest != want:
        part.unlink(missing_ok=True)
        raise InputError(f"data.source: {url}: SHA-256 {digest[:16]}... is not the published "
                         f"{want[:16]}...; the file was discarded unread. {_by_hand(file)}")
    os.replace(part, cached_path(file))


def _fetch(url: str, part: Path, file: RemoteFile, report: Progress) -> None:
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dltui"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=30) as response:
        if have and response.status != 206:  # the server ignored the range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else file.size
        done = have
        with open(part, "ab" if have else "wb") as out:
            report(file.name, done, total)
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                done += len(block)
                report(file.name, done, total)
        if length and length.isdigit() and done < total:
            raise OSError(f"the connection closed after {done:,} of {total:,} bytes")


def plain_progress(name: str, done: int, total: int) -> None:
    """A notebook's or a script's progress: a line when a download starts and when it ends."""
    import sys

    if name not in _started:
        _started.add(name)
        print(f"dltui: downloading {name} ({total / 1e6:.1f} MB)", file=sys.stderr, flush=True)
    elif total and done >= total:
        _started.discard(name)
        print(f"dltui: downloaded {name}", file=sys.stderr, flush=True)


_started: set[str] = set()


_reporter: list[Progress] = [plain_progress]


def set_progress(progress: Progress) -> None:
    """Who shows download progress from now on (the CLI installs a progress bar)."""
    _reporter[0] = progress
