"""Exit codes, named once."""

OK = 0
TRAINING_FAILED = 1
BAD_INPUT = 2
INTERRUPTED = 130  # SIGINT, as shells report it
TERMINATED = 143  # SIGTERM
