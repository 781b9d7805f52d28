"""Benchmarks: tools that drive the product on loopback and print and write figures (never timed assertions)."""
