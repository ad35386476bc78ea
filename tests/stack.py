"""The optaas processes of a test or benchmark run: migrate, the API (uvicorn), Celery workers.

The servers (PostgreSQL, Redis) come from tests/servers.py; this module starts our own programs
against them exactly as an operator would: ``optaas migrate``, ``optaas api``, ``optaas worker``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from app.cli import worker_argv
from tests.servers import free_port


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Stack:
    """API + workers on given database and broker URLs; every process logs under ``log_dir``."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    # -- commands --------------------------------------------------------------------------
    def optaas(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"optaas {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def create_key(self, name: str) -> str:
        return self.optaas("keys", "create", "--name", name).strip().splitlines()[-1]

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        return subprocess.Popen(
            argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the pool children
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def start_api(self) -> None:
        self.api = self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
        )
        self.wait_until(lambda: self._get("/healthz") == 200, 30, "API did not come up")

    def start_worker(self, name: str, queue: str = "cpu", concurrency: int = 1) -> None:
        self.workers[name] = self._spawn(
            f"worker-{name}",
            worker_argv(queue, concurrency, loglevel="INFO", hostname=f"{name}@%h"),
        )

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a worker and its pool processes at once, as a crashed host would."""
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_worker(self, name: str) -> None:
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def wait_for_workers(self, count: int, timeout: float = 60, queue: str = "cpu") -> None:
        def enough() -> bool:
            r = httpx.get(self.base_url + "/readyz", timeout=5)
            return (
                r.status_code == 200 and r.json()["checks"]["database"]["workers"][queue] >= count
            )

        self.wait_until(enough, timeout, f"fewer than {count} {queue} workers announced themselves")

    def stop(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)
        if self.api is not None:
            self.api.terminate()
            try:
                self.api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.api.kill()
            self.api = None

    # -- helpers ---------------------------------------------------------------------------
    def _get(self, path: str) -> int:
        try:
            return httpx.get(self.base_url + path, timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def wait_until(self, predicate: Any, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if predicate():
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{message} (logs in {self.log_dir})")

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()
