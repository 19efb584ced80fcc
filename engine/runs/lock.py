"""One writer per run folder: an advisory lock (flock) on `.writer.lock`, held for the writer's
life. The kernel drops it when the process ends however it ends, so a killed writer leaves no
stale lock; the file keeps the last writer's process id for the message."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import InputError

LOCK_NAME = ".writer.lock"


class FolderLock:
    def __init__(self, run_dir: Path) -> None:
        path = run_dir / LOCK_NAME
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise InputError(f"{run_dir}: cannot lock the run folder ({err.strerror or err})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode("ascii", errors="replace").strip() or "?"
            os.close(self._fd)
            self._fd = None
            raise InputError(f"{run_dir}: another dltui process (pid {holder}) is writing this run "
                             "folder; one writer per run folder: wait for it to end, or stop it "
                             "first") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
