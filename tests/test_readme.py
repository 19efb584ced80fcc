"""The README's output blocks are what dltui prints today: the headless K-fold run and the app's
build screen at 80x24. A change that moves them fails here; `python tests/test_readme.py --write`
puts the new output into the README."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
RUN_HEAD = "```text\n$ dltui run kfold-diabetes\n"
APP_HEAD = "in an 80x24 terminal: the build screen."


def block_after(text: str, marker: str) -> tuple[int, int]:
    """(start, end) of the text inside the ```text block at or after `marker`."""
    at = text.index(marker)
    start = text.index("```text\n", at) + len("```text\n")
    if marker == RUN_HEAD:
        start = text.index("\n", start) + 1  # after the `$ dltui run ...` line
    return start, text.index("```", start)


def headless_run() -> str:
    with tempfile.TemporaryDirectory() as runs:
        done = subprocess.run([sys.executable, "-m", "dltui.tui", "run", "kfold-diabetes",
                               "--runs-dir", runs], capture_output=True, text=True,
                              env={**os.environ, "CI": "true"}, stdin=subprocess.DEVNULL,
                              timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return "".join(line.rstrip() + "\n" for line in done.stdout.splitlines())


def app_screen() -> str:
    from test_tmux import Tmux

    with tempfile.TemporaryDirectory() as folder:
        app = Tmux(f"cd {folder} && {sys.executable} -m dltui.tui open kfold-diabetes "
                   f"--runs-dir {folder}/runs", 80, 24)
        try:
            app.wait_for("4,929 params", 90)
            screen = app.wait_for("ready: ctrl+t trains", 60)
            time.sleep(0.5)  # one more frame: the status line settles
            screen = app.screen()
        finally:
            app.close()
    lines = [line.rstrip() for line in screen.splitlines()]
    return "".join(line + "\n" for line in lines)


def readme_block(marker: str) -> str:
    text = README.read_text(encoding="utf-8")
    start, end = block_after(text, marker)
    return "".join(line.rstrip() + "\n" for line in text[start:end].splitlines())


NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)")


def same_but_rounding(shown: str, printed: str) -> str | None:
    """None if the two outputs say the same thing, else the first line that differs. Sixty
    epochs amplify the last bit of a float: another CPU's matmul kernels (AVX-512 or not) move
    the last-epoch numbers by a few tenths of a percent, so numbers may differ by 2% (an
    integer such as a best epoch by 2); every word, column and line must be the same."""
    a, b = shown.splitlines(), printed.splitlines()
    if len(a) != len(b):
        return f"{len(a)} lines in the README, {len(b)} printed"
    for left, right in zip(a, b, strict=True):
        x, y = NUMBER.split(left), NUMBER.split(right)
        if len(x) != len(y):
            return f"README: {left!r}\nprinted: {right!r}"
        for i, (p, q) in enumerate(zip(x, y, strict=True)):
            if i % 2 == 0:  # text between numbers: the same, up to padding and rule lengths
                if re.sub(r"-+", "-", re.sub(r"\s+", "", p)) != re.sub(r"-+", "-", re.sub(r"\s+", "", q)):
                    return f"README: {left!r}\nprinted: {right!r}"
            elif abs(float(p) - float(q)) > max(0.02 * abs(float(p)), 2.0 if "." not in p else 0.0):
                return f"README: {left!r}\nprinted: {right!r}"
    return None


def test_the_readme_shows_what_dltui_run_prints():
    differs = same_but_rounding(readme_block(RUN_HEAD), headless_run())
    assert differs is None, ("README.md's `dltui run kfold-diabetes` block is stale "
                             f"(python tests/test_readme.py --write):\n{differs}")


def test_the_readme_comparison_allows_rounding_only():
    table = "| 0 | 2 | 266 | 27 | 3642 | 48.34 |\nstatus done\n"
    assert same_but_rounding(table, "| 0 | 2 | 266 | 27 | 3648 | 48.25 |\nstatus done\n") is None
    assert same_but_rounding(table, "| 0 | 2 | 266 | 27 | 3642 |  48.3 |\nstatus done\n") is None
    assert same_but_rounding(table, "| 0 | 2 | 266 | 27 | 3900 | 48.34 |\nstatus done\n")
    assert same_but_rounding(table, "| 0 | 2 | 266 | 27 | 3642 | 48.34 |\nstatus failed\n")
    assert same_but_rounding(table, "| 0 | 2 | 266 | 27 | 3642 | 48.34 |\n")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")
def test_the_readme_shows_the_app_as_it_draws():
    shown = app_screen()
    assert readme_block(APP_HEAD) == shown, (
        "README.md's build-screen capture is stale: python tests/test_readme.py --write")


def write() -> None:
    text = README.read_text(encoding="utf-8")
    for marker, fresh in ((RUN_HEAD, headless_run()), (APP_HEAD, app_screen())):
        start, end = block_after(text, marker)
        text = text[:start] + fresh + text[end:]
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_readme.py --write")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    write()
