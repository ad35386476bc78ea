r"""Acquisition functions on encoded points, with analytic gradients.

Everything is stated for *minimisation* of standardised outputs (``suggest`` negates and
standardises the user's values first), and every acquisition is to be *maximised*.

**LogEI** (Ament et al. [1]_). With posterior mean :math:`\mu(x)`, standard deviation
:math:`\sigma(x)` of the latent function and incumbent :math:`f^*`,
:math:`\mathrm{EI}(x) = \sigma(x)\, h(z)`, :math:`z = (f^* - \mu(x)) / \sigma(x)`,
:math:`h(z) = \varphi(z) + z \Phi(z)`, so :math:`\log \mathrm{EI} = \log h(z) + \log \sigma`. The
naive :math:`\log h` underflows to :math:`-\infty` (and its gradient to 0) near
:math:`z \approx -38`; the stable form is

.. math::

    \log h(z) = \begin{cases}
        \log(\varphi(z) + z\Phi(z)) & z > -1 \\
        -\tfrac{z^2}2 - c_1 + \operatorname{log1mexp}\bigl(\log(\operatorname{erfcx}(-z/\sqrt2)
            \lvert z \rvert) + c_2\bigr) & -1/\sqrt{\epsilon} < z \le -1 \\
        -\tfrac{z^2}2 - c_1 - 2 \log \lvert z \rvert & z \le -1/\sqrt\epsilon
    \end{cases}

with :math:`c_1 = \log(2\pi)/2`, :math:`c_2 = \log(\pi/2)/2` and
:math:`\operatorname{log1mexp}(x) = \log(1 - e^x)` evaluated as ``log(-expm1(x))`` for
:math:`x > -\log 2` and ``log1p(-exp(x))`` below. Since :math:`h'(z) = \Phi(z)`, the derivative
is :math:`(\log h)'(z) = \exp(\log\Phi(z) - \log h(z))`, finite for every :math:`z`.

**Noisy LogEI.** For noisy studies the incumbent is the best *posterior mean* over the observed
(and fantasised) points, and EI is taken on the latent function: the "plug-in" noisy EI (Picheny
et al. 2013, "A benchmark of kriging-based infill criteria for noisy optimization"). It needs no
Monte-Carlo sampling, is deterministic, and coincides with LogEI when the noise vanishes.

**Constraints.** Each constraint :math:`c_j(x) \le u_j` has its own GP; LogEI is multiplied by
the probability of feasibility, i.e. :math:`\sum_j \log\Phi((u_j - \mu_j)/\sigma_j)` is added
(Gardner et al. 2014). Before any feasible point exists there is no incumbent and the acquisition
is the log probability of feasibility alone.

**UCB** (for minimisation, the lower confidence bound): :math:`-\mu(x) + \sqrt{\beta}\sigma(x)`.
**CONFIG** (Xu et al. [2]_): minimise the objective's LCB over the *optimistic* feasible set
:math:`\{x : \mu_j - \sqrt\beta \sigma_j \le u_j\}`, here as the exact penalty
:math:`-\mathrm{LCB}_f(x) - P \sum_j \max(0, \mathrm{LCB}_j(x) - u_j)` with :math:`P = 10^3`
(standardised units), so that when the optimistic set is empty the least-violating point wins.

**piBO** (Hvarfner et al. [3]_): with a user prior :math:`\pi(x)` over the optimum's location the
acquisition becomes :math:`\alpha(x)\, \pi(x)^{\beta/n}` after :math:`n` observations; for LogEI
this adds :math:`(\beta/n) \log \pi(x)`. :math:`\pi` is the product of the given normals in each
parameter's natural units, evaluated at the decoded (relaxed) value. UCB and CONFIG can be
negative, so the multiplicative form does not apply: there the prior shapes only the initial
design.

References
----------
.. [1] S. Ament, S. Daulton, D. Eriksson, M. Balandat and E. Bakshy, "Unexpected improvements to
   expected improvement for Bayesian optimization", NeurIPS 2023.
.. [2] W. Xu, Y. Jiang, B. Svetozarevic and C. N. Jones, "Constrained efficient global
   optimization of expensive black-box functions", ICML 2023.
.. [3] C. Hvarfner, D. Stoll, A. Souza, M. Lindauer, F. Hutter and L. Nardi, "piBO: Augmenting
   acquisition functions with user beliefs for Bayesian optimization", ICLR 2022.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from workers.solvers.bayesopt.gp import GP
from workers.solvers.bayesopt.space import Space

__all__ = [
    "Acquisition",
    "AcquisitionKind",
    "LogPrior",
    "Tabu",
    "log_ei",
    "log_h",
    "log_h_grad",
    "log_pof",
]

AcquisitionKind = Literal["logei", "ucb", "config"]

_C1 = 0.5 * math.log(2.0 * math.pi)
_C2 = 0.5 * math.log(0.5 * math.pi)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)
_CONFIG_PENALTY = 1e3


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``."""
    out = np.empty_like(x)
    near = x > -math.log(2.0)
    out[near] = np.log(-np.expm1(x[near]))
    out[~near] = np.log1p(-np.exp(x[~near]))
    return out


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z Phi(z))``, finite for every finite ``z`` (see the module notes)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _C1) + zu * ndtr(zu))
    far = z <= -_INV_SQRT_EPS
    mid = ~upper & ~far
    zm = z[mid]
    out[mid] = (
        -0.5 * zm * zm - _C1 + _log1mexp(np.log(erfcx(-zm / math.sqrt(2.0)) * np.abs(zm)) + _C2)
    )
    zf = z[far]
    out[far] = -0.5 * zf * zf - _C1 - 2.0 * np.log(np.abs(zf))
    return out


def log_h_grad(z: np.ndarray, logh: np.ndarray | None = None) -> np.ndarray:
    """``d log h / dz = Phi(z) / h(z)``, computed as ``exp(log Phi(z) - log h(z))``."""
    z = np.asarray(z, dtype=float)
    if logh is None:
        logh = log_h(z)
    # Below z = -1e3 the two logs (about -z^2/2) cancel to nothing in float64; there the ratio is
    # |z| + 2/|z| to relative O(z^-4) (Mills-ratio expansion; also the derivative of the last
    # branch of log_h).
    far = z < -1e3
    out = np.exp(log_ndtr(np.where(far, -1.0, z)) - np.where(far, 0.0, logh))
    return np.where(far, -z - 2.0 / np.where(far, z, -1.0), out)


def log_ei(
    mean: np.ndarray, sd: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log expected improvement below ``best`` and its partial derivatives in ``mean`` and ``sd``.

    Returns ``(log EI, d/d mean, d/d sd)``, each of the shape of ``mean``.
    """
    z = (best - mean) / sd
    lh = log_h(z)
    g = log_h_grad(z, lh)
    return lh + np.log(sd), -g / sd, (1.0 - g * z) / sd


def log_pof(
    mean: np.ndarray, sd: np.ndarray, upper: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log P(c <= upper)`` for ``c ~ N(mean, sd^2)``, and its derivatives in ``mean``, ``sd``."""
    u = (upper - mean) / sd
    lp = log_ndtr(u)
    ratio = np.exp(-0.5 * u * u - _C1 - lp)  # phi(u) / Phi(u), finite in both tails
    return lp, -ratio / sd, -ratio * u / sd


@dataclass(frozen=True)
class LogPrior:
    """``log pi(u)`` up to a constant: independent normals ``(mean, sd)`` in natural units."""

    space: Space
    beliefs: Mapping[str, tuple[float, float]]

    def __call__(self, U: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        value = np.zeros(U.shape[0])
        dvalue = np.zeros_like(U) if grad else None
        for name, (m, s) in self.beliefs.items():
            x, dx = self.space.natural(U, name)
            t = (x - m) / s
            value -= 0.5 * t * t
            if dvalue is not None:
                col = self.space.column(name)
                inside = (U[:, col] > 0.0) & (U[:, col] < 1.0)  # natural() clips to the cube
                dvalue[:, col] -= np.where(inside, t / s * dx, 0.0)
        return value, dvalue


@dataclass(frozen=True)
class Tabu:
    """A soft mask around ``center``: adds ``log Phi((d - radius) / 0.2)`` with ``d`` the distance
    to ``center`` in lengthscales, about 0 outside the ball and steeply negative inside."""

    center: np.ndarray
    lengthscales: np.ndarray
    radius: float
    width: float = 0.2

    def __call__(self, U: np.ndarray, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
        scaled = (U - self.center) / self.lengthscales
        d = np.sqrt((scaled * scaled).sum(1))
        t = (d - self.radius) / self.width
        value = log_ndtr(t)
        if not grad:
            return value, None
        ratio = np.exp(-0.5 * t * t - _C1 - value) / self.width  # d log Phi(t) / d d
        dvalue = (ratio / np.maximum(d, 1e-300))[:, None] * scaled / self.lengthscales
        return value, dvalue


@dataclass(frozen=True)
class Acquisition:
    """An acquisition function over encoded points ``U`` of shape ``(N, D)``.

    Attributes
    ----------
    kind
        ``"logei"``, ``"ucb"`` or ``"config"``.
    objective
        GP of the standardised objective (to be minimised).
    incumbent
        Best (feasible) standardised value for LogEI; ``None`` when no feasible point is known,
        which makes LogEI the log probability of feasibility.
    constraints
        ``(GP, upper)`` per constraint, both standardised; feasible iff ``c <= upper``.
    beta
        Confidence multiplier of UCB/CONFIG (``sqrt(beta)`` standard deviations).
    prior, prior_weight
        piBO: adds ``prior_weight * log pi(u)`` (LogEI only).
    tabu
        Masks a ball around a converged incumbent (LogEI only; see :mod:`.suggest`).
    """

    kind: AcquisitionKind
    objective: GP
    incumbent: float | None = None
    constraints: Sequence[tuple[GP, float]] = ()
    beta: float = 4.0
    prior: LogPrior | None = None
    prior_weight: float = 0.0
    tabu: Tabu | None = None

    def __call__(self, U: np.ndarray, grad: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Values ``(N,)`` and, when ``grad``, gradients ``(N, D)``."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        value = np.zeros(U.shape[0])
        dvalue = np.zeros_like(U) if grad else None
        root_beta = math.sqrt(self.beta)
        if self.kind == "logei":
            if self.incumbent is not None:
                self._add(value, dvalue, U, self.objective, "logei", self.incumbent)
            for gp, upper in self.constraints:
                self._add(value, dvalue, U, gp, "logpof", upper)
            if self.prior is not None and self.prior_weight > 0.0:
                lp, dlp = self.prior(U, grad)
                value += self.prior_weight * lp
                if dvalue is not None and dlp is not None:
                    dvalue += self.prior_weight * dlp
            if self.tabu is not None:
                tv, dtv = self.tabu(U, grad)
                value += tv
                if dvalue is not None and dtv is not None:
                    dvalue += dtv
            return value, dvalue
        self._add(value, dvalue, U, self.objective, "ucb", root_beta)
        if self.kind == "config":
            for gp, upper in self.constraints:
                self._add(value, dvalue, U, gp, "config", upper, root_beta)
        return value, dvalue

    @staticmethod
    def _add(
        value: np.ndarray,
        dvalue: np.ndarray | None,
        U: np.ndarray,
        gp: GP,
        term: str,
        a: float,
        b: float = 0.0,
    ) -> None:
        if dvalue is None:
            mean, var = gp.predict(U)
            dmean = dvar = None
        else:
            mean, var, dmean, dvar = gp.predict_with_grad(U)
        sd = np.sqrt(var)
        if term == "logei":
            v, dm, ds = log_ei(mean, sd, a)
        elif term == "logpof":
            v, dm, ds = log_pof(mean, sd, a)
        elif term == "ucb":
            v, dm, ds = -mean + a * sd, -np.ones_like(mean), np.full_like(sd, a)
        else:  # config: exact penalty on the optimistic constraint bound
            violation = mean - b * sd - a
            active = violation > 0.0
            v = -_CONFIG_PENALTY * np.maximum(violation, 0.0)
            dm = np.where(active, -_CONFIG_PENALTY, 0.0)
            ds = np.where(active, _CONFIG_PENALTY * b, 0.0)
        value += v
        if dvalue is not None and dmean is not None and dvar is not None:
            # var is floored at 1e-12 s^2 in the GP; d sd = d var / (2 sd) holds above it.
            dvalue += dm[:, None] * dmean + (ds / (2.0 * sd))[:, None] * dvar
