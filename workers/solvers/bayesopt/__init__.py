"""Bayesian optimisation core: search spaces, Gaussian processes, acquisition functions and the
stateless ``suggest``/``recommend`` pair the study service calls, plus test functions and a
benchmark driver. Pure numpy/scipy; no I/O.

Modules: :mod:`.space` (parameters and the unit-cube encoding), :mod:`.gp` (ARD Matern-5/2 / RBF
Gaussian process with MAP hyperparameters), :mod:`.acquisition` (LogEI, noisy LogEI, UCB, CONFIG,
constraints, piBO), :mod:`.optimize` (acquisition maximisation over mixed spaces),
:mod:`.suggest` (the public entry points), :mod:`.functions` (synthetic test problems) and
:mod:`.benchmark` (a whole study against a test problem).
"""
