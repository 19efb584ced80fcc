"""Data: loading (CSV, NPZ, Parquet, built-in sets), the data rules, preprocessing, splits
and the book's three warnings."""
