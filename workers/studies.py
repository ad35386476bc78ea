"""Answer one suggestion request: read the study, ask the core for points, write pending trials.

Idempotent and race-safe through the database. The request is answered only while ``queued``
(a redelivered message, or one whose caller gave up, changes nothing), and the new trials are
written only if no trial was created since the state was read: two concurrent asks on one study
never receive the same point, because the later one is recomputed with the earlier one's pending
trials. The GP fit runs outside any transaction, so no lock is held while it runs.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from threadpoolctl import threadpool_limits

from app.db import unit_of_work
from app.settings import Settings
from app.studies import repository
from app.studies.models import Trial
from app.studies.surrogate import study_config, study_state
from app.timeutil import utcnow
from workers.solvers.bayesopt.suggest import SpaceExhausted, Suggestions, suggest

log = logging.getLogger(__name__)

#: Recomputations when other asks keep adding trials meanwhile; each one sees more of them.
MAX_CONFLICTS = 20


def answer_suggestion(request_id: str, *, settings: Settings) -> str:
    """Return what became of the request: done, failed, stale (not queued any more), conflict."""
    url = settings.resolved_database_url
    for _ in range(MAX_CONFLICTS):
        with unit_of_work(url) as session:
            request = repository.get_request(session, request_id)
            if request is None or request.status != "queued":
                return "stale"
            study = repository.get_study(session, request.study_id)
            if study is None or study.state != "active":
                repository.finish_request(
                    session,
                    request_id,
                    status="failed",
                    now=utcnow(),
                    error={"error": "StudyArchived", "detail": "the study is archived"},
                )
                return "failed"
            spec, seen_count, count = dict(study.spec), study.trial_count, request.count
            state = study_state(repository.trials(session, study.id))

        started = time.perf_counter()
        try:
            with threadpool_limits(limits=settings.blas_threads):
                result = suggest(
                    study_config(spec),
                    state.observations,
                    state.pending,
                    count,
                    failed=state.failed,
                )
        except SpaceExhausted as exc:
            return _fail(url, request_id, "SpaceExhausted", str(exc))
        except Exception as exc:  # noqa: BLE001 - the caller must get an answer, not a timeout
            log.exception("suggestion request %s failed", request_id)
            return _fail(url, request_id, "SuggestionFailed", f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started

        if _write(url, request_id, study.id, seen_count, result, elapsed):
            return "done"
        log.info("study %s changed while suggesting; recomputing", study.id)
    return _fail(url, request_id, "Conflict", "the study kept changing; retry the request")


def _write(
    url: str, request_id: str, study_id: str, seen_count: int, result: Suggestions, elapsed: float
) -> bool:
    """Store the trials if the study is as it was read; False means recompute."""
    now = utcnow()
    with unit_of_work(url) as session:
        info: dict[str, Any] = {"compute_s": elapsed, **_jsonable(result.info)}
        if not repository.finish_request(session, request_id, status="done", now=now, info=info):
            return True  # no longer queued: the caller gave up or another delivery answered
        if not repository.bump_revision(
            session,
            study_id,
            now=now,
            new_trials=len(result.params),
            expected_trial_count=seen_count,
        ):
            session.rollback()
            return False
        for i, params in enumerate(result.params):
            repository.add(
                session,
                Trial(
                    id=str(uuid.uuid4()),
                    study_id=study_id,
                    number=seen_count + i + 1,
                    params=params,
                    state="pending",
                    source="suggested",
                    request_id=request_id,
                    created_at=now,
                ),
            )
    return True


def _fail(url: str, request_id: str, error: str, detail: str) -> str:
    with unit_of_work(url) as session:
        repository.finish_request(
            session,
            request_id,
            status="failed",
            now=utcnow(),
            error={"error": error, "detail": detail},
        )
    return "failed"


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """The core's diagnostics, kept only where they are plain JSON scalars."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, str | int | float | bool):
            out[key] = value
    return out
