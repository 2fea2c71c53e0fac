"""Ctrl-C, SIGTERM (a cancelled CI job) and the kill switch halt a run the same way as an abort.

While faults are being reverted the handlers are shielded: a second Ctrl-C cannot cut a revert short.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from harness.errors import Halt

log = logging.getLogger(__name__)

KILL_SWITCH_SIGNAL = signal.SIGUSR1
_SIGNALS = (signal.SIGINT, signal.SIGTERM, KILL_SWITCH_SIGNAL)


class Interrupts:
    def __init__(self, stop_file: Path | None = None) -> None:
        self.stop_file = stop_file
        self.reason: str | None = None
        self._pending = False
        self._shielded = 0
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        reason = "kill switch (SIGUSR1)" if signum == KILL_SWITCH_SIGNAL else f"interrupted by {name}"
        self.reason = self.reason or reason
        if self._shielded:
            log.warning("%s received while a fault is being changed: finishing that first", name)
            self._pending = True
            return
        raise Halt(self.reason)

    def check(self) -> None:
        """Raise Halt for a signal that arrived during a shielded section, or when the stop file appears."""
        if self.stop_file is not None and self.stop_file.exists() and self.reason is None:
            self.reason = f"kill switch: stop file {self.stop_file} appeared"
            raise Halt(self.reason)
        if self._pending and not self._shielded:
            self._pending = False
            raise Halt(self.reason or "interrupted")

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1
