"""The solver core: pure numerical code with no I/O.

Every solver takes arrays (numpy or cupy; the array module is read off the inputs), an optional
:class:`~workers.solvers.monitor.Monitor` through which it reports progress and learns that it must
stop, and returns one :class:`~workers.solvers.result.SolverResult`.
"""
