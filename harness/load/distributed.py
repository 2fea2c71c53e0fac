"""Harness side of distributed load: Locust's own master and workers, started and watched by their PIDs.

The master runs the shape (the stages) and no users; it waits for `expected_workers` workers
(`--expect-workers`, `--expect-workers-max-wait`) before the shape's clock starts, so the warmup
starts only when all of them are there. `--enable-rebalancing` moves a lost worker's users to the
others (Locust notices a worker missing after ~3 s without heartbeat). Workers on other machines run
`harness load-worker --master HOST:PORT EXPERIMENT`, which writes the same plan there.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LoadError
from harness.load.config import LoadConfig
from harness.procs import free_port, spawn, stop


@dataclass(frozen=True)
class LocalWorker:
    index: int
    proc: subprocess.Popen[bytes]
    log_path: Path


def master_address(config: LoadConfig) -> tuple[str, int]:
    """The host and port the master listens on: the configured port, or a free one."""
    return config.master_host, config.master_port or free_port(config.master_host)


def port_problem(host: str, port: int) -> str | None:
    """Why the master could not listen on host:port (taken, or no such address here), None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except socket.gaierror as err:
            return f"{host} is not an address of this machine ({err.strerror})"
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is taken by another process"
            return f"cannot listen on {host}:{port}: {err.strerror}"
    return None


def master_options(config: LoadConfig, host: str, port: int) -> list[str]:
    return [
        "--master", "--master-bind-host", host, "--master-bind-port", str(port),
        "--expect-workers", str(config.expected_workers),
        "--expect-workers-max-wait", f"{config.workers_timeout_s:g}",
        "--enable-rebalancing",
    ]  # fmt: skip


def worker_options(master_host: str, port: int) -> list[str]:
    return ["--worker", "--master-host", master_host, "--master-port", str(port)]


def worker_hint(bind_host: str, port: int) -> str:
    """The command a remote worker runs (a master on all addresses is reached by this machine's name)."""
    host = "MASTER_HOST" if bind_host in ("0.0.0.0", "::", "") else bind_host
    return f"harness load-worker --master {host}:{port} EXPERIMENT"


def connect_host(bind_host: str) -> str:
    """Where a local worker reaches a master bound to bind_host (all addresses: the loopback)."""
    return "127.0.0.1" if bind_host in ("0.0.0.0", "") else bind_host


def spawn_workers(count: int, base_argv: list[str], host: str, port: int, load_dir: Path,
                  env: dict[str, str]) -> list[LocalWorker]:
    workers: list[LocalWorker] = []
    try:
        for index in range(1, count + 1):
            log_path = load_dir / f"worker-{index}.log"
            proc = spawn([*base_argv, *worker_options(connect_host(host), port)], log_path=log_path, env=env,
                         cwd=load_dir)
            workers.append(LocalWorker(index, proc, log_path))
    except OSError as err:
        stop_workers(workers)
        raise LoadError(f"could not start load worker {len(workers) + 1}: {err}") from err
    return workers


def stop_workers(workers: list[LocalWorker] | tuple[LocalWorker, ...]) -> None:
    for worker in workers:
        with contextlib.suppress(OSError):
            stop(worker.proc, timeout=3.0)
