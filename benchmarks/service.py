"""Service benchmark: latency, sustained submission rate and lost jobs of a running optaas.

Two deployments, each started from scratch on 127.0.0.1 and torn down afterwards:

* ``redis``: a private PostgreSQL + Redis (tests/servers.py), the API under uvicorn and two Celery
  worker processes (concurrency 1 each), started as tests/stack.py starts them; auth on, one key.
* ``embedded``: ``optaas serve --workers 2`` (SQLite + the filesystem broker, auth off on loopback).

For each deployment::

    1. submit->succeeded latency of a trivial job (lasso 5x3, tol 1e-6), sequential jobs, observed
       by polling ``GET /v1/jobs/{id}`` every ~5 ms and by the SSE stream (``event: done``);
       overheads = latency - result.solve_time_s (client side) and
       finished_at - created_at - solve_time_s (server side).
    2. sustained submissions: N jobs from several client threads (one httpx.Client each), rate of
       202s; meanwhile one more thread GETs random known ids (latency under load); then wait for
       the drain and check that every accepted id reached ``succeeded`` (0 lost).

Run: ``python -m benchmarks.service [--quick] [--jobs N] [--mode redis|embedded|both]``.
Prints a markdown table (absolute numbers, targets from BENCHMARKS.md "Service", PASS/MISS).
The client, the API, the workers and the databases share the machine's cores: on a small machine
the numbers measure the whole box, not the API alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.factories import lasso_job
from tests.servers import PostgresServer, RedisServer, free_port
from tests.stack import Stack

BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FINISHED = {"succeeded", "failed", "cancelled"}
TARGET_OVERHEAD_MS = 50.0
TARGET_SUBMIT_RATE = 200.0
POLL_EVERY_S = 0.005
LATENCY_JOB_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 900.0
STALL_TIMEOUT_S = 120.0  # give up the drain when no job of ours finished for this long
STARTUP_TIMEOUT_S = 90.0
LOG_PATTERNS = ("Traceback", "database is locked", "ERROR", "CRITICAL", " 500 ")


# ----------------------------------------------------------------------------- deployments


@dataclass
class Deployment:
    name: str
    base_url: str
    headers: dict[str, str]
    log_dir: Path
    description: str

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout)


def _stop_on_sigterm() -> None:
    # SIGTERM (e.g. `timeout`) takes the same path as Ctrl-C, so every `finally` runs.
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored


def _clean_env() -> dict[str, str]:
    """Our environment without any OPTAAS_* setting that could point at another deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTAAS_")}
    env.update(BLAS_ENV)
    return env


@contextlib.contextmanager
def redis_stack(base: Path) -> Iterator[Deployment]:
    """PostgreSQL + Redis + API + two single-process Celery workers, auth on with one key."""
    with PostgresServer(base) as pg, RedisServer(base) as redis:
        pg.create_database("optaas")
        env = {
            **BLAS_ENV,
            "OPTAAS_ENVIRONMENT": "production",
            "OPTAAS_AUTH_ENABLED": "true",
            "OPTAAS_BLAS_THREADS": "1",
            "OPTAAS_DATABASE_URL": pg.url("optaas"),
            "OPTAAS_BROKER_URL": redis.url(0),
        }
        saved = os.environ.copy()
        os.environ.clear()
        os.environ.update(_clean_env())  # Stack copies os.environ: no stray OPTAAS_* in it
        try:
            stack = Stack(env, base / "logs")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        try:
            stack.optaas("migrate")
            key = stack.create_key("bench")
            stack.start_api()
            stack.start_worker("w1", concurrency=1)
            stack.start_worker("w2", concurrency=1)
            stack.wait_for_workers(2, timeout=STARTUP_TIMEOUT_S)
            yield Deployment(
                name="redis",
                base_url=stack.base_url,
                headers={"Authorization": f"Bearer {key}"},
                log_dir=stack.log_dir,
                description="PostgreSQL + Redis + uvicorn API + 2 Celery workers x 1, auth on",
            )
        finally:
            stack.stop()


def _kill_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop; serve then stops its worker
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    # Worker and pool processes left in the group (serve started them in its session).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(base_url: str, workers: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"optaas serve exited with {proc.returncode}; log {log}")
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            r = httpx.get(base_url + "/readyz", timeout=5)
            if r.status_code == 200 and r.json()["checks"]["database"]["workers"]["cpu"] >= workers:
                return
        time.sleep(0.2)
    raise TimeoutError(f"optaas serve not ready with {workers} workers; log {log}")


@contextlib.contextmanager
def embedded(base: Path) -> Iterator[Deployment]:
    """``optaas serve --workers 2``: SQLite + filesystem broker, auth off on loopback."""
    port = free_port()
    log_dir = base / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "serve.log"
    env = {**_clean_env(), "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(base / "data"),
        "--workers",
        "2",
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, 2, proc, log_path)
        yield Deployment(
            name="embedded",
            base_url=base_url,
            headers={},
            log_dir=log_dir,
            description="optaas serve --workers 2 (SQLite + filesystem broker), auth off",
        )
    finally:
        _kill_group(proc)


DEPLOYMENTS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Deployment]]] = {
    "redis": redis_stack,
    "embedded": embedded,
}


# ----------------------------------------------------------------------------- measurements


def job_body() -> bytes:
    return json.dumps(lasso_job(5, 3, seed=0, tol=1e-6)).encode()


JSON_HEADERS = {"Content-Type": "application/json"}


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


def _server_overhead_s(job: dict[str, Any]) -> float:
    return _ts(job["finished_at"]) - _ts(job["created_at"]) - job["result"]["solve_time_s"]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


@dataclass
class LatencyRun:
    latencies_s: list[float] = field(default_factory=list)
    client_overheads_s: list[float] = field(default_factory=list)
    server_overheads_s: list[float] = field(default_factory=list)
    solve_times_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, latency: float, job: dict[str, Any]) -> None:
        if job.get("status") != "succeeded" or not job.get("result"):
            self.failures.append(f"{job.get('id')}: {job.get('status')} {job.get('error')}")
            return
        solve = float(job["result"]["solve_time_s"])
        self.latencies_s.append(latency)
        self.client_overheads_s.append(latency - solve)
        self.server_overheads_s.append(_server_overhead_s(job))
        self.solve_times_s.append(solve)


def _submit(client: httpx.Client, body: bytes) -> dict[str, Any]:
    r = client.post("/v1/jobs", content=body, headers=JSON_HEADERS)
    if r.status_code != 202:
        raise RuntimeError(f"POST /v1/jobs -> {r.status_code}: {r.text[:500]}")
    return dict(r.json())


def latency_by_polling(dep: Deployment, body: bytes, count: int) -> LatencyRun:
    run = LatencyRun()
    with dep.client() as client:
        for _ in range(count):
            t0 = time.perf_counter()
            job_id = _submit(client, body)["id"]
            deadline = t0 + LATENCY_JOB_TIMEOUT_S
            while True:
                job = client.get(f"/v1/jobs/{job_id}").json()
                t1 = time.perf_counter()
                if job["status"] in FINISHED:
                    break
                if t1 > deadline:
                    raise TimeoutError(f"job {job_id} still {job['status']} after polling")
                time.sleep(POLL_EVERY_S)
            run.add(t1 - t0, job)
    return run


def latency_by_sse(dep: Deployment, body: bytes, count: int) -> LatencyRun:
    run = LatencyRun()
    with dep.client(timeout=LATENCY_JOB_TIMEOUT_S) as client:
        for _ in range(count):
            t0 = time.perf_counter()
            job_id = _submit(client, body)["id"]
            done: dict[str, Any] | None = None
            t1 = float("nan")
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as r:
                if r.status_code != 200:
                    raise RuntimeError(f"GET events -> {r.status_code}")
                event = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[len("event: ") :]
                        if event == "done":
                            t1 = time.perf_counter()
                    elif line.startswith("data: ") and event == "done":
                        done = json.loads(line[len("data: ") :])
                        break
            if done is None:
                raise RuntimeError(f"SSE stream of {job_id} ended without a done event")
            run.add(t1 - t0, done)
    return run


@dataclass
class LoadRun:
    n: int
    threads: int
    accepted: list[str] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    submit_window_s: float = float("nan")
    get_latencies_s: list[float] = field(default_factory=list)
    get_errors: Counter[str] = field(default_factory=Counter)
    drain_s: float = float("nan")
    drained: bool = False
    statuses: Counter[str] = field(default_factory=Counter)
    missing: int = 0
    duplicates: int = 0
    e2e_s: float = float("nan")
    not_succeeded: list[str] = field(default_factory=list)
    cpu_share: dict[str, float] = field(default_factory=dict)
    exited: Counter[str] = field(default_factory=Counter)
    id_feed: Any = None


def _observe_gets(base_url: str, headers: dict[str, str], feed: Any, stop: Any, out: Any) -> None:
    """Child process: GET random known ids until ``stop``; send back (latencies, errors)."""
    rng = random.Random(0)
    ids: list[str] = []
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        out.send("ready")
        while not stop.is_set():
            while not feed.empty():
                ids.append(feed.get())
            if not ids:
                time.sleep(0.002)
                continue
            job_id = rng.choice(ids)
            t0 = time.perf_counter()
            try:
                r = client.get(f"/v1/jobs/{job_id}")
                outcome = str(r.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if outcome == "200":
                latencies.append(time.perf_counter() - t0)
            else:
                errors[outcome] += 1
            time.sleep(0.002)
    out.send((latencies, dict(errors)))


def sustained_load(dep: Deployment, body: bytes, n: int, threads: int) -> LoadRun:
    run = LoadRun(n=n, threads=threads, id_feed=mp.get_context("spawn").SimpleQueue())
    counter = itertools.count()
    lock = threading.Lock()
    starts: list[float] = []
    ends: list[float] = []

    def submitter() -> None:
        with dep.client() as client:
            while next(counter) < n:
                t0 = time.perf_counter()
                try:
                    r = client.post("/v1/jobs", content=body, headers=JSON_HEADERS)
                    outcome = str(r.status_code)
                    job_id = r.json()["id"] if r.status_code == 202 else None
                except httpx.HTTPError as exc:
                    outcome, job_id = type(exc).__name__, None
                t1 = time.perf_counter()
                with lock:
                    starts.append(t0)
                    ends.append(t1)
                    if job_id is not None:
                        run.accepted.append(job_id)
                        run.id_feed.put(job_id)
                    else:
                        run.rejected[outcome] += 1

    # The GET observer is a process of its own: in a thread it would queue for the GIL behind the
    # submitters and report the client's waits as the server's latency.
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    parent_end, child_end = ctx.Pipe(duplex=False)
    observer = ctx.Process(
        target=_observe_gets,
        args=(dep.base_url, dep.headers, run.id_feed, stop, child_end),
        daemon=True,
    )
    observer.start()
    pool = [threading.Thread(target=submitter, daemon=True) for _ in range(threads)]
    try:
        if not parent_end.poll(30):  # the observer is ready (imports done, client open)
            raise RuntimeError("GET observer did not start")
        parent_end.recv()
        cpu0, t_cpu0 = cpu_snapshot(), time.monotonic()
        for t in pool:
            t.start()
        for t in pool:
            while t.is_alive():
                t.join(timeout=0.5)
        cpu1, t_cpu1 = cpu_snapshot(), time.monotonic()
        used, run.exited = cpu_between(cpu0, cpu1)
        run.cpu_share = {k: v / (t_cpu1 - t_cpu0) for k, v in used.items()}
        stop.set()
        if parent_end.poll(60):
            run.get_latencies_s, errors = parent_end.recv()
            run.get_errors.update(errors)
    finally:
        stop.set()
        observer.join(timeout=10)
        if observer.is_alive():
            observer.kill()
            observer.join(timeout=5)
    submit_end_wall = time.time()
    if starts:
        run.submit_window_s = max(ends) - min(starts)
    print(
        f"  [{dep.name}] {len(run.accepted)} accepted, {sum(run.rejected.values())} rejected in "
        f"{run.submit_window_s:.1f} s; waiting for the drain ...",
        flush=True,
    )

    wanted = set(run.accepted)
    run.duplicates = len(run.accepted) - len(wanted)
    jobs = _wait_drain(dep, wanted, run)
    run.missing = len(wanted - jobs.keys())
    mine = [jobs[i] for i in wanted if i in jobs]
    run.statuses = Counter(j["status"] for j in mine)
    run.not_succeeded = [f"{j['id']}: {j['status']}" for j in mine if j["status"] != "succeeded"]
    finished = [_ts(j["finished_at"]) for j in mine if j.get("finished_at")]
    if finished and run.drained:
        last = max(finished)
        run.drain_s = max(0.0, last - submit_end_wall)
        run.e2e_s = last - min(_ts(j["created_at"]) for j in mine)
    return run


def _all_jobs(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every job of the caller's tenant, by id (paged through the list endpoint)."""
    jobs: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/v1/jobs", params=params)
        r.raise_for_status()
        page = r.json()
        for item in page["items"]:
            jobs[item["id"]] = item
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return jobs


def _wait_drain(dep: Deployment, wanted: set[str], run: LoadRun) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last_report = last_progress = time.monotonic()
    best_left = len(wanted) + 1
    with dep.client(timeout=60) as client:
        while True:
            pending = 0
            for status in ("queued", "running"):
                r = client.get("/v1/jobs", params={"status": status, "limit": 1})
                r.raise_for_status()
                pending += len(r.json()["items"])
            if pending == 0:
                run.drained = True
                break
            if time.monotonic() > deadline:
                break
            if time.monotonic() - last_report > 15:
                jobs = _all_jobs(client)
                left = sum(1 for i in wanted if jobs.get(i, {}).get("status") not in FINISHED)
                print(f"  [{dep.name}] still {left} of ours unfinished ...", flush=True)
                last_report = time.monotonic()
                if left < best_left:
                    best_left, last_progress = left, time.monotonic()
                elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
                    print(f"  [{dep.name}] no progress for {STALL_TIMEOUT_S:.0f} s: giving up")
                    break
            time.sleep(0.25)
        return _all_jobs(client)


def _category(pid: int, cmdline: str) -> str | None:
    if pid == os.getpid():
        return "client"
    if "postgres" in cmdline:
        return "postgres"
    if "redis-server" in cmdline:
        return "redis"
    if "app.cli worker" in cmdline:
        return "workers"
    if "app.main:create_app" in cmdline or "app.cli serve" in cmdline:
        return "api"
    if "multiprocessing" in cmdline:
        return "client"  # the GET observer
    return None


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """Per process: (part of the deployment or client, CPU seconds used so far, user + system)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        category = _category(int(entry.name), cmdline)
        if category is None:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (category, (int(fields[11]) + int(fields[12])) / tick)
    return procs


def cpu_between(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> tuple[dict[str, float], Counter[str]]:
    """CPU seconds per part between two snapshots, and the processes that exited in between.

    A process that exited in between is not counted (its last seconds are lost); one that started
    in between counts from zero.
    """
    used: Counter[str] = Counter()
    for pid, (category, seconds) in after.items():
        prev = before.get(pid)
        used[category] += seconds - (prev[1] if prev and prev[0] == category else 0.0)
    gone = Counter(category for pid, (category, _) in before.items() if pid not in after)
    return dict(used), gone


# ----------------------------------------------------------------------------- report


@dataclass
class Result:
    dep: Deployment
    polling: LatencyRun
    sse: LatencyRun
    load: LoadRun
    log_findings: list[str]


def _ms(x: float) -> str:
    return f"{x * 1e3:.1f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(results: list[Result]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    for res in results:
        name, p, s, load = res.dep.name, res.polling, res.sse, res.load
        overhead_p50 = _pct(p.client_overheads_s, 50)
        rows.append(
            (
                name,
                f"submit->succeeded, polling every 5 ms: p50 / p95 (ms), {len(p.latencies_s)} jobs",
                f"{_ms(_pct(p.latencies_s, 50))} / {_ms(_pct(p.latencies_s, 95))}",
                "",
                "",
            )
        )
        rows.append(
            (
                name,
                f"submit->succeeded, SSE `event: done`: p50 / p95 (ms), {len(s.latencies_s)} jobs",
                f"{_ms(_pct(s.latencies_s, 50))} / {_ms(_pct(s.latencies_s, 95))}",
                "",
                "",
            )
        )
        solve = p.solve_times_s + s.solve_times_s
        rows.append((name, "solve_time_s median (ms)", _ms(_pct(solve, 50)), "", ""))
        target_applies = name == "redis"
        rows.append(
            (
                name,
                "overhead p50 = polling latency - solve_time_s (ms)",
                _ms(overhead_p50),
                f"< {TARGET_OVERHEAD_MS:.0f} ms" if target_applies else "(Redis target only)",
                _verdict(overhead_p50 * 1e3 < TARGET_OVERHEAD_MS) if target_applies else "info",
            )
        )
        server = p.server_overheads_s + s.server_overheads_s
        rows.append(
            (
                name,
                "server overhead median = finished_at - created_at - solve_time_s (ms)",
                _ms(_pct(server, 50)),
                "",
                "",
            )
        )
        rate = len(load.accepted) / load.submit_window_s if load.submit_window_s > 0 else 0.0
        rejected = sum(load.rejected.values())
        rows.append(
            (
                name,
                f"sustained submissions/s (N={load.n}, {load.threads} client threads)",
                f"{rate:.0f} ({len(load.accepted)} x 202 in {load.submit_window_s:.1f} s"
                + (f"; rejected {dict(load.rejected)}" if rejected else "")
                + ")",
                f">= {TARGET_SUBMIT_RATE:.0f}/s",
                _verdict(rate >= TARGET_SUBMIT_RATE and rejected == 0),
            )
        )
        lost = load.missing + len(load.not_succeeded) + (0 if load.drained else 1)
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(load.statuses.items()))
        rows.append(
            (
                name,
                "lost jobs (accepted but not `succeeded`)",
                f"{load.missing + len(load.not_succeeded)} ({statuses}; "
                f"{len(set(load.accepted))} distinct ids"
                + ("" if load.drained else "; DRAIN TIMED OUT")
                + ")",
                "0",
                _verdict(lost == 0 and rejected == 0 and len(set(load.accepted)) == load.n),
            )
        )
        rows.append(
            (
                name,
                "drain after last submission (s) / end-to-end completed jobs/s",
                f"{load.drain_s:.1f} / {len(set(load.accepted)) / load.e2e_s:.0f}"
                if load.drained and load.e2e_s > 0
                else "n/a",
                "",
                "",
            )
        )
        if load.cpu_share:
            order = ["client", "api", "workers", "postgres", "redis"]
            shares = ", ".join(f"{k} {load.cpu_share[k]:.2f}" for k in order if k in load.cpu_share)
            rows.append(
                (
                    name,
                    f"CPU during the submission phase (cores busy, of {os.cpu_count()})",
                    f"{shares}; total {sum(load.cpu_share.values()):.2f}"
                    + (
                        f" (processes exited meanwhile: {dict(load.exited)})" if load.exited else ""
                    ),
                    "",
                    "",
                )
            )
        get_err = sum(load.get_errors.values())
        rows.append(
            (
                name,
                f"GET /v1/jobs/{{id}} under submission load: p50 / p99 (ms), "
                f"{len(load.get_latencies_s)} GETs",
                f"{_ms(_pct(load.get_latencies_s, 50))} / {_ms(_pct(load.get_latencies_s, 99))}"
                + (f" (errors {dict(load.get_errors)})" if get_err else ""),
                "",
                "",
            )
        )
    out = [
        "| Deployment | Metric | Measured | Target | Result |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
    ]
    return "\n".join(out)


def scan_logs(log_dir: Path) -> list[str]:
    findings: list[str] = []
    for path in sorted(log_dir.glob("*.log")):
        counts: Counter[str] = Counter()
        first: dict[str, str] = {}
        with open(path, errors="replace") as f:
            for line in f:
                for pat in LOG_PATTERNS:
                    if pat in line:
                        counts[pat] += 1
                        first.setdefault(pat, line.strip()[:300])
        for pat, n in counts.items():
            findings.append(f"{path.name}: {n} line(s) with {pat!r}, first: {first[pat]}")
    return findings


def run_deployment(name: str, args: argparse.Namespace, keep: Path | None) -> Result:
    base = Path(tempfile.mkdtemp(prefix=f"optaas-bench-{name}-"))
    body = job_body()
    n = args.jobs_embedded if name == "embedded" and args.jobs_embedded else args.jobs
    try:
        print(f"[{name}] starting (files in {base}) ...", flush=True)
        with DEPLOYMENTS[name](base) as dep:
            print(f"[{name}] up: {dep.description} at {dep.base_url}", flush=True)
            latency_by_polling(dep, body, 3)  # warm-up: imports, connections, first solve
            polling = latency_by_polling(dep, body, args.latency_jobs)
            print(f"[{name}] polling latency done", flush=True)
            sse = latency_by_sse(dep, body, args.latency_jobs)
            print(f"[{name}] SSE latency done; {n} jobs, {args.threads} threads ...", flush=True)
            load = sustained_load(dep, body, n, args.threads)
            print(f"[{name}] load done", flush=True)
        findings = scan_logs(base / "logs")
        return Result(dep, polling, sse, load, findings)
    finally:
        if keep is not None:
            dest = keep / name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(base / "logs", dest, dirs_exist_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def machine() -> str:
    mem = ""
    with contextlib.suppress(OSError):
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if m:
            mem = f", {int(m.group(1)) / 2**20:.0f} GiB RAM"
    return f"{platform.platform()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="15 latency jobs, N=300")
    parser.add_argument("--jobs", type=int, default=None, help="N for the sustained phase")
    parser.add_argument(
        "--jobs-embedded", type=int, default=None, help="N for the embedded deployment only"
    )
    parser.add_argument("--latency-jobs", type=int, default=None, help="sequential jobs per way")
    parser.add_argument("--threads", type=int, default=8, help="submitting client threads")
    parser.add_argument("--mode", choices=["redis", "embedded", "both"], default="both")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy server logs here")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (300 if args.quick else 2000)
    args.latency_jobs = args.latency_jobs or (15 if args.quick else 50)
    _stop_on_sigterm()
    os.environ.update(BLAS_ENV)

    names = ["redis", "embedded"] if args.mode == "both" else [args.mode]
    started = time.time()
    results: list[Result] = []
    for name in names:
        results.append(run_deployment(name, args, args.keep_logs))
    print()
    print(
        f"Service benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {machine()}; "
        f"client, API, workers and databases share these cores; "
        f"total {time.time() - started:.0f} s"
    )
    print()
    print(table(results))
    for res in results:
        if res.log_findings:
            print(f"\n[{res.dep.name}] server log findings:")
            for line in res.log_findings:
                print(f"  {line}")
        for label, lr in (("polling", res.polling), ("SSE", res.sse)):
            for f in lr.failures:
                print(f"[{res.dep.name}] {label} latency job not succeeded: {f}")
        for line in res.load.not_succeeded[:20]:
            print(f"[{res.dep.name}] load job not succeeded: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
