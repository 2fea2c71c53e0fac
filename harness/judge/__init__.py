"""Judging (pure): the statistics, each SLO's phases and limits, and how verdicts combine into exit codes."""
