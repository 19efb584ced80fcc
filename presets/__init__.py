"""Presets shipped with dltui: the book's workflows on data that needs no download."""
