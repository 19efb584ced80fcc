"""The doctor: checks of a preset against the book's advice, before training and on its curves."""
