"""Presets shipped with dltui: the book's listings on its data sets (downloaded on first use) and
the same workflows on data that needs no download."""
