"""Conic optimisation in SCS's standard form (cones, projections and the splitting solver)."""
