"""Analyses of run-log DataFrames: cost reports, plots, reproducibility."""
