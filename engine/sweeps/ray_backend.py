"""Connecting to Ray as users start it: a cluster from `ray start --head`, or a local instance.

Ray 2.59 and later start local clusters with token authentication on, but a driver given an
explicit address never turns it on by itself (Ray's own rule), so `ray.init(address=...)`
against a `ray start` cluster retries for 20 s and fails with `InvalidAuthToken`. dltui keeps
the user's `RAY_AUTH_MODE` when set; unset, it connects as Ray would and, if the cluster asks
for a token and one is available (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH`, `~/.ray/auth_token`:
Ray's own order), connects again with token authentication, as Ray documents for clients.
Every failure is one line (exit 2); Ray's C++ retry warnings are kept off the terminal.

A local instance listens on 127.0.0.1 (`_node_ip_address`): it serves this machine only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError

TESTED_RAY = ">=2.52,<2.61"  # token auth exists from 2.52; the range pyproject pins
CONNECT_SECONDS = "5"  # GCS connection attempts, about a second each (Ray's default: 20)


def token_available() -> bool:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or (
        Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file())


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Ray's C++ client writes its retry warnings to file descriptor 2 itself: they go to a
    temporary file while connecting, and come back as text (to name the cause in one line)."""
    said: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said.append(sink.read().decode("utf-8", "replace"))


def _enable_token_auth() -> None:
    os.environ["RAY_AUTH_MODE"] = "token"
    try:  # Ray caches its config at import: refresh it, as ray.init does for local clusters
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
    except ImportError:
        return
    _enable_token_auth()


def connect(ray: Any, address: str | None) -> None:
    """ray.init against `address` (None: a new local instance), or InputError in one line."""
    if address in (None, ""):
        with captured_stderr():
            ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        return
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", CONNECT_SECONDS)
    chosen = os.environ.get("RAY_AUTH_MODE")
    said = _attempt(ray, address)
    if said is not None and "InvalidAuthToken" in said and chosen is None and token_available():
        ray.shutdown()
        _enable_token_auth()
        said = _attempt(ray, address)
    if said is None:
        return
    if "InvalidAuthToken" in said:
        where = ("RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN") else
                 os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token")
        raise InputError(
            f"--address {address}: the Ray cluster refused the connection: it wants its token "
            f"(InvalidAuthToken; this machine's, from {where}, "
            f"{'is not it' if token_available() else 'is missing'}): copy ~/.ray/auth_token from "
            "the head node here, or set RAY_AUTH_TOKEN (`ray get-auth-token` on the head)")
    first = next((ln.strip() for ln in said.splitlines() if "Error" in ln), said.strip()[:200])
    raise InputError(f"--address {address}: cannot connect to the Ray cluster ({first[:200]})")


def _attempt(ray: Any, address: str) -> str | None:
    """None when connected, else what Ray said."""
    with captured_stderr() as said:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            return None
        except (ConnectionError, RuntimeError, ValueError) as err:
            error = f"{type(err).__name__}: {err}"
    return said[0] + "\n" + error


class RayBackend:
    """Each variant group a Ray task (`num_gpus=1` when the cluster has GPUs), events through a
    Ray queue. With an address, the head is watched: when it stops answering, the sweep ends at
    once with what finished (Ray's own driver would wait a minute, then exit from C++)."""

    def __init__(self, address: str | None) -> None:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise InputError("--backend ray needs Ray: pip install 'dltui[ray]'") from None
        self.ray = ray
        self.address = address if address and address != "auto" else None
        if self.address:
            reachable(self.address)
        if not ray.is_initialized():
            connect(ray, address or None)
        self.queue = Queue()
        gpus = ray.cluster_resources().get("GPU", 0)
        options: dict[str, Any] = {"max_retries": 0, "num_gpus": 1 if gpus else 0, "num_cpus": 1}
        self.device = "cuda" if gpus else "cpu"
        self.task = ray.remote(**options)(_ray_train)
        self.gone: str | None = None
        # A new worker spends seconds importing torch and the engine before its first variant:
        # warm one per CPU now, while this process still prepares the variants (measured in
        # bench/ray_overhead.py). Fire and forget: a variant does not wait for them.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._warm = [ray.remote(num_cpus=1)(_warm_up).remote() for _ in range(min(cpus, 8))]

    def submit(self, jobs: list[dict[str, Any]]) -> Any:
        return self.task.remote(jobs, self.device, self.queue)

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Probe the head every half second from a thread (calls into a dead cluster block the
        main thread); `on_lost(why)` once it has not answered twice in a row."""
        if self.address is None:
            return

        def probe() -> None:
            misses = 0
            while misses < 2:
                time.sleep(0.5)
                try:
                    reachable(self.address, seconds=1.0)  # type: ignore[arg-type]
                    misses = 0
                except InputError:
                    misses += 1
            self.gone = f"the Ray cluster at {self.address} stopped answering"
            on_lost(self.gone)

        threading.Thread(target=probe, name="dltui-ray-watch", daemon=True).start()

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        from ray.util.queue import Empty

        out: list[tuple[int, dict[str, Any]]] = []
        if self.gone:
            return out
        while True:
            try:
                out.append(self.queue.get_nowait())
            except Empty:
                return out

    def poll_done(self, handles: list[Any]) -> list[tuple[Any, dict[str, bytes] | None, str | None]]:
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        done = []
        for h in ready:
            try:
                done.append((h, self.ray.get(h), None))
            except Exception as err:  # a crashed worker, a cancelled task, an error inside it
                done.append((h, None, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"))
        return done

    def cancel(self, handles: list[Any]) -> None:
        for h in handles:
            self.ray.cancel(h, force=True)

    def close(self) -> None:
        if not self.gone:  # the queue is an actor on the cluster: a dead one never answers
            self.queue.shutdown()


def reachable(address: str, seconds: float = 3.0) -> None:
    """One line within seconds when nothing listens at a Ray address (ray.init would retry
    silently for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address}: expected HOST:PORT, e.g. 127.0.0.1:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            pass
    except OSError as err:
        raise InputError(f"--address {address}: no Ray cluster answers there ({err.strerror or err}); "
                         "start one with `ray start --head --port PORT`, or check the address") from None


def _warm_up() -> None:
    import sklearn.model_selection  # noqa: F401  (the splits)
    import torch  # noqa: F401

    from ..train import experiment  # noqa: F401


def _ray_train(jobs: list[dict[str, Any]], device: str, queue: Any) -> dict[int, dict[str, bytes]]:
    from .remote import train_group

    return train_group(jobs, device, queue.put)
