"""Adapters from validated problem specs to the pure solvers, one module per family.

An adapter moves the spec's arrays to the device's array module (``xp``) and calls the solver with
the job's options and monitor: ``(spec, options, monitor, xp) -> SolverResult``.
"""
