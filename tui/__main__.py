"""`python -m dltui.tui` runs the CLI (what tests use to run it in a subprocess)."""

from dltui.tui.cli import main

main()
