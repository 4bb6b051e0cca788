"""Whole experiments above the engine: each trains several models, analyses them and writes a
results file, a report and figures (``zoo experiment NAME --out DIR``)."""
