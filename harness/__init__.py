"""Chaos engineering and SLO verification harness."""

__version__ = "0.1.0"
