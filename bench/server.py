"""Start a uvicorn server as a subprocess on loopback, watch its memory, stop it.

Both the real service and the bare baseline are started here with the same command line
(uvicorn, uvloop, httptools, no access log, the same worker count), so the only difference
between them is the app.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
SERVICE_APP = "cds_service.api.app:create_app"
BASELINE_APP = "bench.baseline_app:create_app"
FROZEN_BASELINE_APP = "bench.baseline_app:create_frozen_app"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_plan(pin: bool) -> tuple[list[int] | None, list[int] | None]:
    """(server CPUs, load-generator CPUs): split the machine so neither steals the other's CPU."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return cpus[:half], cpus[half:]


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process and its children (uvicorn --workers N forks N workers)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        total += process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
    return total


@dataclass
class RssSampler:
    """Samples the server tree's RSS every ``interval`` seconds in a background thread."""

    process: psutil.Process
    interval: float = 0.02
    peak: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        rss = tree_rss(self.process)
        self.peak = max(self.peak, rss)
        self.samples.append((time.monotonic(), rss))
        return rss

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def rss(self) -> int:
        return tree_rss(self.ps)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def service_command(port: int, workers: int) -> list[str]:
    """The production entry point: ``cds-service serve`` (uvicorn, JSON logs, --workers)."""
    return [
        sys.executable, "-m", "cds_service.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip


def uvicorn_command(app: str, port: int, workers: int) -> list[str]:
    """``uvicorn APP --factory`` with the options ``cds-service serve`` resolves to."""
    return [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    *,
    env: Mapping[str, str],
    workdir: Path,
    workers: int = 1,
    port: int | None = None,
    cpus: list[int] | None = None,
    name: str = "server",
    startup_timeout: float = 60.0,
) -> Iterator[Server]:
    """The service (``app == SERVICE_APP``: via ``cds-service serve``) or another ASGI app
    (via the uvicorn CLI), on 127.0.0.1, stdout/stderr to ``workdir/<name>.log``."""
    port = port or free_port()
    log_path = workdir / f"{name}.log"
    if app == SERVICE_APP:
        command = service_command(port, workers)
    else:
        command = uvicorn_command(app, port, workers)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    server = Server(process, port, log_path)
    try:
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited at start-up:\n{server.log_tail()}")
        try:
            # Any HTTP answer (even 401) means the app is up and serving.
            httpx.get(f"{server.base_url}/healthz", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{server.log_tail()}")
