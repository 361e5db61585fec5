"""Benchmarks: each measures edgefill against a baseline in the same run and prints a ratio."""
