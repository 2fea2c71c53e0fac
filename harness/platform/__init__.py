"""Platforms the harness runs experiments against."""
