"""Service-level endpoints: health, readiness and the solver catalogue."""
