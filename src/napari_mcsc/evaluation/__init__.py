"""Benchmarks on real data (ACDC-style folders): protocol runs and the interactive scenario."""
