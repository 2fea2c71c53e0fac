"""`harness load-worker --master HOST:PORT EXPERIMENT`: a Locust worker for a run on another machine.

The worker runs the experiment's load profile (its requests, or its locustfile) from the same files as
the run's machine: it writes the same plan here, and the master refuses a worker whose plan differs.
The master sends the target host and tells the worker how many users to run; the worker ends when
the master quits (or with Ctrl-C).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import SpecError
from harness.load.config import PLAN_ENV, header_environment
from harness.load.distributed import worker_options
from harness.load.driver import child_env, locust_argv, plan_with_users_digest
from harness.plan import build_plan
from harness.run.loadconfig import load_config
from harness.spec.loader import load_experiment

PLACEHOLDER_HOST = "http://127.0.0.1"
"""The master sends the real target with each spawn message; Locust only needs a valid URL to start."""


def parse_master(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SpecError([f"--master: expected HOST:PORT (the run's load.master), got {value!r}"])
    return host.strip("[]"), int(port)


def load_worker(experiment: Path, master: str) -> int:
    host, port = parse_master(master)
    loaded = load_experiment(experiment)
    target = loaded.experiment.load.host or loaded.load.profile.host or PLACEHOLDER_HOST
    config = load_config(loaded, build_plan(loaded), target)
    with tempfile.TemporaryDirectory(prefix="harness-load-worker-") as scratch:
        plan_path = Path(scratch) / "plan.json"
        plan_path.write_text(json.dumps(plan_with_users_digest(config, Path(scratch) / "unused.jsonl")))
        argv = [*locust_argv(config.locustfile, target), *worker_options(host, port)]
        env = child_env({PLAN_ENV: str(plan_path), **header_environment(config)})
        print(f"load worker for {loaded.name}: connecting to the master at {host}:{port} (pid {os.getpid()})",
              file=sys.stderr)
        with subprocess.Popen(argv, env=env, cwd=scratch) as proc:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.terminate()  # Locust's worker says "quit" to the master on SIGTERM
                return proc.wait()
