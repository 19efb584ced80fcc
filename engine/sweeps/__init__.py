"""Sweeps: variants of a preset planned, trained (locally or on Ray) and ranked."""
