"""Benchmarks behind the figures in the docs; each prints ratios against a baseline measured in the same run."""
