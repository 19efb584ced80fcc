"""The README's output blocks are what dltui prints today: the headless K-fold run and the app's
build screen at 80x24. A change that moves them fails here; `python tests/test_readme.py --write`
puts the new output into the README."""

from __future__ import annotations

import os
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


def test_the_readme_shows_what_dltui_run_prints():
    printed = headless_run()
    assert readme_block(RUN_HEAD) == printed, (
        "README.md's `dltui run kfold-diabetes` block is stale: python tests/test_readme.py --write")


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
