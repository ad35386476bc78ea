"""Proximal methods: the catalogue of proximal operators and the solvers built on it.

:mod:`workers.solvers.prox.operators` holds the :class:`ProxOperator` interface (``value``,
``prox``, ``conjugate_value``), the operators, the calculus wrappers (scaling, translation,
conjugation, orthogonal precomposition) and the ``CATALOGUE`` that the API lists;
:mod:`workers.solvers.prox.projections` the Euclidean projections onto simple sets and the
breakpoint search behind them; :mod:`workers.solvers.prox.tv1d` the exact 1-D total-variation
prox. Arrays may be numpy or cupy; the array module is read off the inputs.

This file imports nothing, so that importing one module of the package loads only that module.
"""
