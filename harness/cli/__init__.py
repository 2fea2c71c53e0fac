"""The `harness` command: argument parsing and logging (main), one function per command (commands)."""

from harness.cli.main import main

__all__ = ["main"]
