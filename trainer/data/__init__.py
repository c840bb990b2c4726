"""Training data: file loaders (JSONL, Parquet, verl-style Parquet) and the built-in arithmetic task."""
