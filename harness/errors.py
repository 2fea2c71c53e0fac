"""The harness's error tree: one root, a few meaningful children.

Messages say what failed, where, and how to fix it. Only the CLI turns them into exit codes.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class SpecError(HarnessError):
    """An experiment, load profile or SLO file is invalid (exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnsupportedError(HarnessError):
    """A valid file asks for a capability this version does not provide yet (exit code 2)."""


class PlatformError(HarnessError):
    """The target platform could not be started, reached or stopped (exit code 5)."""


class BlastRadiusError(HarnessError):
    """The blast-radius policy refuses a fault (exit code 2 before the run; nothing was injected).
    `field` is the fault's field (or the target's) that asks for too much."""

    def __init__(self, message: str, field: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.field = field


class LoadError(HarnessError):
    """The load generator failed to start or died (exit code 5)."""


class FaultError(HarnessError):
    """A fault could not be injected or reverted."""


class EvidenceError(HarnessError):
    """Prometheus could not be queried or answered something unusable."""


class RunStopped(HarnessError):
    """A run that stops before any fault, with a verdict of its own (not an error of the harness)."""


class Refused(RunStopped):
    """The pre-run budget gate refused to start the experiment."""


class Inconclusive(RunStopped):
    """The run cannot produce evidence (e.g. a metric is missing); stopped before any injection."""


class Halt(BaseException):
    """Raised in the main thread to halt a run (abort, signal, kill switch); carries the reason shown in
    the result. A BaseException, so that no `except Exception` on the way can swallow it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
