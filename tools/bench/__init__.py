"""Benchmarks against real services: ``python -m tools.bench.run``."""
