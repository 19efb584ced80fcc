"""Tables (CSV, Parquet, Feather): the reader, its fast typed pass, the per-column rules and
the encoding into features."""
