"""Load driver: Locust in a subprocess, shaped by stages, counted per second on the client side.

Nothing in this package imports Locust except the locustfile-side modules `locust_plan` and
`locust_requests`, which only the Locust subprocess loads.
"""

from __future__ import annotations

from harness.load.config import LoadConfig, RequestSpec, Stage
from harness.load.driver import LoadRun, check_locustfile, start_load
from harness.load.record import LoadWindow

__all__ = ["LoadConfig", "LoadRun", "LoadWindow", "RequestSpec", "Stage", "check_locustfile", "start_load"]
