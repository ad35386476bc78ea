"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import install_handlers
from app.jobs import router as jobs
from app.jobs.reconciler import run_reconciler
from app.settings import Settings, get_settings
from app.studies import router as studies
from app.system import router as system
from schemas.jobs import JobCreate
from workers.celery_app import configure as configure_celery

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_celery(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.reconciler_enabled:
            task = asyncio.create_task(run_reconciler(settings))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="optaas",
        version="0.1.0",
        summary="Optimization as a service: certified solutions to declarative problems.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_handlers(app)
    app.include_router(system.router)
    app.include_router(jobs.router)
    app.include_router(studies.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        # POST /v1/jobs reads its raw body (size limit before parsing); publish its model here.
        body = JobCreate.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components["JobCreate"] = body
        app.openapi_schema = schema
    return app.openapi_schema
