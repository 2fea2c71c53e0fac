"""The readiness sampler reads the platform on its own thread: a slow read never holds up the timeline."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

from harness.errors import PlatformError
from harness.platform.base import Readiness
from harness.run.cluster_checks import ReadinessSampler
from tests.faults import FakePlatform


class SlowPlatform(FakePlatform):
    """Ready counts 3, 2, then an unreachable API, then 3 again; each read takes a while."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.answers: list[int | None] = [3, 2, None, 3]
        self.delay_s = delay_s
        self.reads = 0

    def readiness(self) -> Readiness | None:
        time.sleep(self.delay_s)
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        if answer is None:
            raise PlatformError("kubernetes (context c, namespace n): cannot get deployment/shop: unreachable")
        return Readiness(answer, 3)


def test_samples_are_taken_off_the_main_thread_and_a_failed_read_is_a_gap() -> None:
    platform = SlowPlatform(delay_s=0.05)
    started = time.monotonic()
    sampler = ReadinessSampler(platform, time.time).start()
    assert time.monotonic() - started < 0.05  # start() does not wait for a read
    deadline = time.monotonic() + 5
    while platform.reads < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    samples = sampler.stop()
    assert [ready for _, ready in samples][:3] == [3, 2, 3]  # the failed third read left a gap
    assert all(a[0] < b[0] for a, b in pairwise(samples))
    assert not any(t.name == "readiness-sampler" for t in threading.enumerate())
