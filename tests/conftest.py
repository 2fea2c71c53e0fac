"""Shared pytest configuration."""

from __future__ import annotations

import pytest

# The harness's pytest plugin collects experiment files as tests; the ones under data/ are inputs of
# this suite (many invalid on purpose), never experiments to run.
collect_ignore = ["data"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: slow tests that start real processes")
