"""Everything that draws in Jupyter: HTML cards, progress, the compare grid, the form."""
