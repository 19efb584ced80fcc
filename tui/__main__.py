"""`python -m dltui.tui` runs the CLI (what tests use to run it in a subprocess)."""

from .cli import main

main()
