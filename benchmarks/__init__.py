"""Benchmarks: symsteer against what a researcher would do by hand (``python benchmarks/run.py``)."""
