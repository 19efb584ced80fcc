"""Benchmarks: the engine against a minimal hand-written PyTorch loop, in the same process."""
