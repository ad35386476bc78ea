"""A study's stored spec and trials as the Bayesian-optimization core's inputs (no I/O here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.studies.models import Trial
from workers.solvers.bayesopt.space import Param
from workers.solvers.bayesopt.suggest import Observation, StudyConfig


def study_config(spec: dict[str, Any]) -> StudyConfig:
    params = tuple(
        Param(
            name=p["name"],
            type=p["type"],
            low=p.get("low"),
            high=p.get("high"),
            log=bool(p.get("log", False)),
            choices=tuple(p["choices"]) if p.get("choices") is not None else None,
        )
        for p in spec["space"]
    )
    design = spec.get("initial_design")
    return StudyConfig(
        params=params,
        direction=spec["direction"],
        constraints=tuple((c["name"], float(c["upper"])) for c in spec.get("constraints", [])),
        noise=spec["noise"],
        prior={k: (float(v["mean"]), float(v["sd"])) for k, v in spec.get("prior", {}).items()},
        seed=int(spec["seed"]),
        initial_design_size=int(design["size"]) if design else None,
        acquisition=spec.get("acquisition", "logei"),
    )


@dataclass(frozen=True)
class StudyState:
    """The trials split the way the core wants them, observations in trial-number order."""

    observations: list[Observation]
    observed: list[Trial]  # the trial behind each observation, same order
    pending: list[dict[str, Any]]
    failed: list[dict[str, Any]]


def study_state(trials: Sequence[Trial]) -> StudyState:
    observations, observed, pending, failed = [], [], [], []
    for t in trials:
        if t.state == "complete" and t.value is not None:
            observations.append(
                Observation(
                    params=dict(t.params),
                    value=float(t.value),
                    constraints=dict(t.constraint_values or {}),
                    noise_sd=t.noise_sd,
                )
            )
            observed.append(t)
        elif t.state == "pending":
            pending.append(dict(t.params))
        elif t.state == "failed":
            failed.append(dict(t.params))
        # an expired trial (pending past the study's timeout) is neither: its client is presumed
        # gone, so its point is free to be suggested again
    return StudyState(observations, observed, pending, failed)
