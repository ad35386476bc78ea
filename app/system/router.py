"""Health, readiness and the solver catalogue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db import unit_of_work
from app.deps import SettingsDep
from app.fleet import repository as fleet
from app.settings import Settings
from app.timeutil import utcnow
from schemas.options import SolveOptions
from schemas.problems import SPECS
from schemas.problems.penalties import PENALTY_NAMES
from workers.celery_app import celery_app
from workers.routing import QUEUES
from workers.solvers.prox.operators import CATALOGUE

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database(settings: Settings) -> dict[str, Any]:
    with unit_of_work(settings.resolved_database_url) as session:
        session.execute(text("SELECT 1"))
        since = utcnow() - timedelta(seconds=settings.worker_presence_ttl_s)
        workers = fleet.live(session, since)
    return {
        "ok": True,
        "workers": {queue: sum(1 for w in workers if w.queue == queue) for queue in QUEUES},
    }


def _check_broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return {"ok": True}


@router.get("/readyz", summary="Database and broker reachable (503 otherwise)")
def readyz(settings: SettingsDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    for name, check in (("database", lambda: _check_database(settings)), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its reason
            checks[name] = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    ready = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if not ready:
        failing = ", ".join(n for n, c in checks.items() if not c["ok"])
        body.update(error="NotReady", detail=f"unreachable: {failing}", fields=[])
    return JSONResponse(body, status_code=200 if ready else 503)


def catalogue() -> list[dict[str, Any]]:
    options_schema = SolveOptions.model_json_schema()
    return [
        {
            "kind": spec.model_fields["kind"].annotation.__args__[0],  # type: ignore[union-attr]
            "summary": spec.summary,
            "gpu": spec.gpu_capable,
            "schema": spec.model_json_schema(),
            "options": {"schema": options_schema, "defaults": spec.defaults.model_dump()},
        }
        for spec in SPECS
    ]


@router.get("/v1/solvers", tags=["solvers"], summary="Every problem kind with its schema")
def solvers(settings: SettingsDep) -> dict[str, Any]:
    return {
        "solvers": catalogue(),
        # The catalogue of proximal operators; `composite` says whether a composite problem's
        # penalty may name it (the matrix operators act on X, not on a vector x).
        "prox_operators": [
            {**entry.as_dict(), "composite": entry.name in PENALTY_NAMES}
            for entry in CATALOGUE.values()
        ],
        "limits": {
            "max_body_bytes": settings.max_body_bytes,
            "max_problem_elements": settings.max_problem_elements,
            "default_time_limit_s": settings.default_time_limit_s,
            "max_time_limit_s": settings.max_time_limit_s,
        },
    }
