"""The two kinds of failure dltui reports: bad input (the user's to fix, exit 2) and a training failure."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a preset, a data file or a setting. The message is one line that names the
    file, the field and what is allowed; faces print it without a traceback and exit 2."""


class TrainingFailure(Exception):
    """Training could not go on (diverged, out of memory). `status` is what the run is marked."""

    def __init__(self, message: str, status: str = "failed") -> None:
        super().__init__(message)
        self.status = status
