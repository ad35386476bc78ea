"""The quick start: ``optaas serve`` alone (SQLite, filesystem broker, real worker processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.factories import lasso_data, lasso_job, long_job, submit, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.embedded


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_serve_runs_jobs_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTAAS_")}
    # Short leases so that recovery from a killed worker takes seconds.
    env.update(
        OPTAAS_LEASE_TIMEOUT_S="3", OPTAAS_REQUEUE_AFTER_S="2", OPTAAS_RECONCILE_INTERVAL_S="0.5"
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(base + "/readyz", timeout=2).json()
                workers = ready["checks"]["database"]["workers"]
                if workers["cpu"] >= 2 and workers["studies"] >= 1:
                    break
            except (httpx.HTTPError, KeyError):
                pass
            time.sleep(0.2)
        else:
            pytest.fail(
                "optaas serve did not become ready:\n" + (tmp_path / "serve.log").read_text()
            )

        # Longer than the 30 s suggestion timeout, so that a slow ask shows the server's answer.
        with httpx.Client(base_url=base, timeout=60) as c:  # auth is off on loopback
            job = submit(c, lasso_job(30, 12, seed=5, tol=1e-9, trace_every=1))
            done = wait_for(c, job["id"], timeout=60)
            assert done["status"] == "succeeded", done
            d = lasso_data(30, 12, seed=5)
            x = np.asarray(done["result"]["solution"]["x"])
            r = d["A"] @ x - d["b"]
            objective = 0.5 * r @ r + d["lam"] * np.abs(x).sum()
            assert done["result"]["objective"] == pytest.approx(objective, rel=1e-12)
            assert done["result"]["certificate"]["relative_gap"] <= 1e-9
            trace = c.get(f"/v1/jobs/{job['id']}/trace").json()
            assert trace and trace[-1]["iteration"] == done["result"]["iterations"]

            # A study: suggestions come from the worker processes through the file broker.
            space = [{"name": "x", "type": "float", "low": -2, "high": 2}]
            r = c.post("/v1/studies", json={"name": "quad", "space": space, "seed": 1})
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            for _ in range(4):
                r = c.post(f"/v1/studies/{sid}/suggestions", json={"count": 1})
                assert r.status_code == 201, r.text
                (trial,) = r.json()["trials"]
                value = (trial["params"]["x"] - 0.5) ** 2
                url = f"/v1/studies/{sid}/trials/{trial['id']}/observation"
                assert c.post(url, json={"value": value}).status_code == 200
            study = c.get(f"/v1/studies/{sid}").json()
            assert study["counts"]["complete"] == 4 and len(study["trace"]) == 4

            # Cancelling a running job works here too (no Redis, no PostgreSQL).
            running = submit(c, long_job(20, seed=6))
            wait_for(c, running["id"], {"running"})
            c.post(f"/v1/jobs/{running['id']}/cancel")
            assert wait_for(c, running["id"], timeout=10)["status"] == "cancelled"
            assert c.get("/v1/jobs").json()["items"][0]["id"] == running["id"]

            # SIGKILL the worker and its pool mid-job: serve starts a new worker, and the
            # reconciler gives it the job once the dead one's lease expires.
            victim = submit(c, long_job(1.5, seed=7))
            wait_for(c, victim["id"], {"running"})
            worker = next(
                p for p in children_of(proc.pid) if b"worker\x00--queues\x00cpu" in cmdline(p)
            )
            for pid in [*children_of(worker), worker]:
                os.kill(pid, signal.SIGKILL)
            done = wait_for(c, victim["id"], timeout=60)
            assert done["status"] == "succeeded" and done["attempts"] == 2, done
        assert (tmp_path / "data" / "optaas.sqlite3").exists()
    finally:
        descendants = children_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    time.sleep(1.0)
    leftovers = [p for p in descendants if Path(f"/proc/{p}").exists()]
    assert not leftovers, f"serve left processes behind: {leftovers}"
