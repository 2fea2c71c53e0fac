"""Child processes the harness starts: spawned so they die with us, stopped only by their PID."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _death_signal(sig: int) -> Callable[[], None]:
    def die_with_parent() -> None:
        # Runs in the child between fork and exec: ask the kernel to signal it when we die, so a
        # harness killed with SIGKILL leaves no demo replica, proxy or Prometheus behind.
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig)
        except (OSError, AttributeError):
            pass

    return die_with_parent


_HANDED_OUT: dict[int, float] = {}
_HANDED_OUT_FOR_S = 120.0
_HANDED_OUT_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice), not handed out here lately.

    A port is picked before its owner binds it; a stack picks several at once and its Prometheus
    one more a moment later, so the same port must not be given twice in that gap.
    """
    with _HANDED_OUT_LOCK:
        now = time.monotonic()
        for port, at in list(_HANDED_OUT.items()):
            if now - at > _HANDED_OUT_FOR_S:
                del _HANDED_OUT[port]
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT[port] = now
                return port


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = True,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start argv in its own session with stdout and stderr appended to log_path.

    death_signal reaches the child when its parent dies; SIGKILL also ends a SIGSTOPped child,
    which would otherwise keep a pending SIGTERM forever.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_death_signal(death_signal) if die_with_parent else None,
        )


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """Stop a child we started: sig to its process group, SIGKILL after timeout, then reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the PID, it
    tells a process apart from a later one that got the same PID."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid: int, started: int | None) -> bool:
    """Whether PID still names the process that had this start time (None: unknown, assume it does)."""
    return started is None or start_time(pid) == started


def process_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (R, S, T for stopped, Z for zombie), None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return process_state(pid) != "Z"


def wait_for_port(host: str, port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until host:port accepts a TCP connection; False on timeout or if proc exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
