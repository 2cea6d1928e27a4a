"""Benchmark foundation."""
