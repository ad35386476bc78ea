r"""Exact Gaussian-process regression with ARD Matern-5/2 or RBF kernels and MAP hyperparameters.

Model (on inputs in the unit cube and standardised outputs):

.. math::

    f \sim \mathcal{GP}(c, \; s^2 k(\cdot, \cdot)), \qquad y_i = f(x_i) + \epsilon_i, \quad
    \epsilon_i \sim \mathcal N(0, \sigma_i^2),

with :math:`r^2 = \sum_k (x_k - x'_k)^2 / \ell_k^2` and

.. math::

    k_{5/2}(r) = (1 + \sqrt5 r + \tfrac53 r^2) e^{-\sqrt5 r}, \qquad k_{\rm RBF}(r) = e^{-r^2/2}.

Hyperparameters :math:`\theta = (\log \ell_1, \dots, \log \ell_D, \log s^2, c, [\log \sigma^2])`
maximise the log marginal likelihood plus the log prior (MAP),

.. math::

    \log p(y \mid \theta) = -\tfrac12 (y - c)^\top K^{-1} (y - c) - \tfrac12 \log\lvert K \rvert
    - \tfrac n2 \log 2\pi, \qquad K = s^2 k(X, X) + \mathrm{diag}(\sigma^2),

whose gradient is :math:`\partial_\theta = -\tfrac12 \mathrm{tr}\bigl((K^{-1} - \alpha\alpha^\top)
\partial_\theta K\bigr)`, :math:`\alpha = K^{-1}(y - c)`. Writing :math:`G = -2\,\partial k /
\partial r^2` (:math:`\tfrac53 (1 + \sqrt5 r) e^{-\sqrt5 r}` for Matern-5/2, :math:`k` for RBF),
:math:`\partial K_{ij} / \partial \log \ell_k = s^2 G_{ij} (x_{ik} - x_{jk})^2 / \ell_k^2`, which
needs no division by :math:`r` and is summed over :math:`i, j` in :math:`O(n^2 D)` without forming
the :math:`n \times n \times D` tensor.

Priors (the "vanilla BO" recipe of Hvarfner, Hellsten & Nardi [1]_, as BoTorch applies it): each
lengthscale is LogNormal with :math:`\mu = \sqrt2 + \tfrac12 \log D`, :math:`\sigma = \sqrt3`;
the density is taken in :math:`\ell`, and in :math:`\log \ell` that is
:math:`\mathcal N(\mu - \sigma^2, \sigma)` (the Jacobian moves the mode), so the MAP lengthscale of
a flat likelihood is :math:`e^{\mu - \sigma^2} \approx 0.2 \sqrt D`. Weak normal priors keep the
others in range: :math:`\log s^2 \sim \mathcal N(0, 1.5)` and :math:`c \sim \mathcal N(0, 1)`
(outputs are standardised), and an inferred noise variance has
:math:`\log \sigma^2 \sim \mathcal N(-5, 1)` (BoTorch's LogNormal(-4, 1), again by its density in
:math:`\sigma^2`), within :math:`[10^{-6}, 4]`.

The Cholesky factorisation adds jitter ``1e-10 * mean(diag K)``, tenfold up to ``1e-2 * ..``, when
the matrix is not numerically positive definite (duplicated or clustered points).

References
----------
.. [1] C. Hvarfner, E. O. Hellsten and L. Nardi, "Vanilla Bayesian optimization performs great in
   high dimensions", ICML 2024.
.. [2] C. E. Rasmussen and C. K. I. Williams, "Gaussian Processes for Machine Learning", MIT
   Press, 2006, ch. 2 and 5.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.linalg import blas, lapack, solve_triangular
from scipy.optimize import minimize

__all__ = [
    "GP",
    "GPHyper",
    "GPPrior",
    "KernelName",
    "fit_gp",
    "kernel_matrix",
    "neg_log_posterior",
    "standardize",
]

KernelName = Literal["matern52", "rbf"]

_SQRT5 = math.sqrt(5.0)
_LOG_2PI = math.log(2.0 * math.pi)
LOG_LENGTHSCALE_BOUNDS = (math.log(5e-3), math.log(1e3))
LOG_OUTPUTSCALE_BOUNDS = (math.log(1e-3), math.log(1e2))
MEAN_BOUNDS = (-10.0, 10.0)
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(4.0))
_CENTRE = 0.5  # inputs live in [0, 1]: centring shrinks the norms in the GEMM form of distances


@dataclass(frozen=True)
class GPPrior:
    """Independent normal priors on the log-hyperparameters (see the module notes)."""

    log_ls_loc: float
    log_ls_scale: float = math.sqrt(3.0)
    log_scale_loc: float = 0.0
    log_scale_scale: float = 1.5
    mean_loc: float = 0.0
    mean_scale: float = 1.0
    log_noise_loc: float = -5.0
    log_noise_scale: float = 1.0

    @classmethod
    def dim_scaled(cls, dim: int) -> GPPrior:
        """LogNormal(sqrt 2 + log(dim) / 2, sqrt 3) lengthscales (a density in the lengthscale)."""
        mu, sigma = math.sqrt(2.0) + 0.5 * math.log(max(dim, 1)), math.sqrt(3.0)
        return cls(log_ls_loc=mu - sigma**2, log_ls_scale=sigma)


@dataclass(frozen=True)
class GPHyper:
    """Hyperparameters in natural units (``noise`` is a variance, ``None`` when given per point)."""

    lengthscales: np.ndarray
    outputscale: float
    mean: float
    noise: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lengthscales": [float(v) for v in self.lengthscales],
            "outputscale": self.outputscale,
            "mean": self.mean,
            "noise": self.noise,
        }


def standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(y - mean) / sd`` with ``sd = 1`` for constant (or single) data; returns the shift and
    scale too."""
    mean = float(np.mean(y))
    sd = float(np.std(y)) if y.size > 1 else 0.0
    if not (sd > 1e-12 * max(1.0, abs(mean))):
        sd = 1.0
    return (y - mean) / sd, mean, sd


def _sqdist(Z1: np.ndarray, Z2: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows (GEMM form, clipped at 0)."""
    # In place throughout: fresh (n, n) temporaries are served by mmap and page-fault on every
    # call, which costs more than the arithmetic at the sizes of BO (n of a few hundred).
    d2 = Z1 @ Z2.T
    d2 *= -2.0
    d2 += (Z1 * Z1).sum(1)[:, None]
    d2 += (Z2 * Z2).sum(1)[None, :]
    return np.maximum(d2, 0.0, out=d2)


def _kernel_parts(r2: np.ndarray, kernel: KernelName) -> tuple[np.ndarray, np.ndarray]:
    """``k(r^2)`` and ``G = -2 dk / d(r^2)`` (both finite at ``r = 0``); ``r2`` is not modified."""
    if kernel == "rbf":
        k = np.multiply(r2, -0.5)
        np.exp(k, out=k)
        return k, k
    r = np.sqrt(r2)
    e = np.multiply(r, -_SQRT5)
    np.exp(e, out=e)
    g = r
    g *= _SQRT5
    g += 1.0  # 1 + sqrt5 r
    k = np.multiply(r2, 5.0 / 3.0)
    k += g
    k *= e
    g *= e
    g *= 5.0 / 3.0
    return k, g


def kernel_matrix(
    X1: np.ndarray,
    X2: np.ndarray,
    lengthscales: np.ndarray,
    outputscale: float = 1.0,
    kernel: KernelName = "matern52",
) -> np.ndarray:
    """``s^2 k(X1, X2)``, shape ``(len(X1), len(X2))``."""
    Z1 = (X1 - _CENTRE) / lengthscales
    Z2 = (X2 - _CENTRE) / lengthscales
    return outputscale * _kernel_parts(_sqdist(Z1, Z2), kernel)[0]


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``K``, with growing diagonal jitter if needed (``K`` unchanged)."""
    L, info = lapack.dpotrf(K, lower=1, clean=1)
    if info == 0:
        return L
    base = float(np.mean(np.diag(K)))
    if not math.isfinite(base) or base <= 0.0:
        raise np.linalg.LinAlgError("kernel matrix has a non-positive or non-finite diagonal")
    jitter = 1e-10 * base
    while jitter <= 1e-2 * base:
        Kj = K.copy()
        Kj[np.diag_indices_from(Kj)] += jitter
        L, info = lapack.dpotrf(Kj, lower=1, clean=1)
        if info == 0:
            return L
        jitter *= 10.0
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """``K^{-1}`` from the lower factor (upper triangle zero, as ``_cholesky`` leaves it)."""
    inv, info = lapack.dpotri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("dpotri failed")
    # dpotri fills the lower triangle and leaves the (zero) upper one: mirror it in place.
    inv += inv.T
    inv[np.diag_indices_from(inv)] *= 0.5
    return inv


def _unpack(
    theta: np.ndarray, dim: int, fixed_noise: np.ndarray | None
) -> tuple[np.ndarray, float, float, np.ndarray | float]:
    ls = np.exp(theta[:dim])
    s2 = math.exp(theta[dim])
    c = float(theta[dim + 1])
    noise: np.ndarray | float = math.exp(theta[dim + 2]) if fixed_noise is None else fixed_noise
    return ls, s2, c, noise


class _Workspace:
    """Four ``(n, n)`` buffers reused by every evaluation of one fit.

    Fresh ``(n, n)`` temporaries are served by mmap (above glibc's threshold) and page-fault on
    every call, which at n = 200 costs more than the arithmetic; writing into buffers that live
    for the whole fit halves the time of an evaluation.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.a = np.empty((n, n))
        self.b = np.empty((n, n))
        self.c = np.empty((n, n))
        self.d = np.empty((n, n))


def neg_log_posterior(
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    kernel: KernelName = "matern52",
    prior: GPPrior | None = None,
    fixed_noise: np.ndarray | None = None,
    work: _Workspace | None = None,
) -> tuple[float, np.ndarray]:
    r"""Negative log marginal likelihood (plus negative log prior when ``prior`` is given) and its
    gradient in ``theta``.

    Parameters
    ----------
    theta : array, shape (D + 2,) or (D + 3,)
        ``(log lengthscales, log outputscale, mean[, log noise variance])``; the last entry is
        present exactly when ``fixed_noise`` is ``None`` (noise inferred).
    X : array, shape (n, D)
    y : array, shape (n,)
    fixed_noise : array, shape (n,), optional
        Per-point noise variances when the noise is not a hyperparameter.

    Returns
    -------
    value : float
    grad : array, shape like ``theta``
    """
    n, dim = X.shape
    w = work if work is not None and work.n == n else _Workspace(n)
    ls, s2, c, noise = _unpack(theta, dim, fixed_noise)
    diag = np.diag_indices(n)
    Z = (X - _CENTRE) / ls
    r2 = w.a
    np.matmul(Z, Z.T, out=r2)
    r2 *= -2.0
    sq = (Z * Z).sum(1)
    r2 += sq[:, None]
    r2 += sq[None, :]
    np.maximum(r2, 0.0, out=r2)
    r2[diag] = 0.0
    kval, G = w.a, w.b  # k overwrites r2, G = -2 dk/dr2
    if kernel == "rbf":
        kval *= -0.5
        np.exp(kval, out=kval)
        np.copyto(G, kval)
    else:
        e = w.c
        np.sqrt(r2, out=G)  # r
        np.multiply(G, -_SQRT5, out=e)
        np.exp(e, out=e)
        G *= _SQRT5
        G += 1.0  # 1 + sqrt5 r
        kval *= 5.0 / 3.0
        kval += G
        kval *= e
        G *= e
        G *= 5.0 / 3.0
    K = w.c
    np.multiply(kval, s2, out=K)
    K[diag] += noise
    # K is symmetric, so its transpose is the Fortran-ordered matrix LAPACK can factor in place.
    L, info = lapack.dpotrf(K.T, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        K = s2 * kval
        K[diag] += noise
        L = np.asfortranarray(_cholesky(K))
    resid = y - c
    alpha = lapack.dpotrs(L, resid, lower=1)[0]
    value = 0.5 * float(resid @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * _LOG_2PI
    inv, info = lapack.dpotri(L, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError("dpotri failed")
    W = w.d  # K^{-1} - alpha alpha^T, so that d value / d K = W / 2
    np.add(inv, inv.T, out=W)  # dpotri filled one triangle; the other is zero
    W[diag] *= 0.5
    W = blas.dger(-1.0, alpha, alpha, a=W.T, overwrite_a=1).T
    grad = np.empty_like(theta)
    grad[dim] = 0.5 * s2 * float(np.vdot(W, kval))
    grad[dim + 1] = -float(alpha.sum())
    if fixed_noise is None:
        grad[dim + 2] = 0.5 * float(noise) * float(np.trace(W))
    M = G
    M *= W
    rs = M.sum(1)
    Xc = X - X.mean(0)
    quad = 2.0 * (rs @ (Xc * Xc)) - 2.0 * np.einsum("ik,ik->k", Xc, M @ Xc)
    grad[:dim] = 0.5 * s2 * quad / (ls * ls)
    if prior is not None:
        locs, scales = _prior_vectors(prior, dim, fixed_noise is None)
        z = (theta - locs) / scales
        value += 0.5 * float(z @ z)
        grad += z / scales
    return value, grad


def _prior_vectors(prior: GPPrior, dim: int, with_noise: bool) -> tuple[np.ndarray, np.ndarray]:
    locs = [prior.log_ls_loc] * dim + [prior.log_scale_loc, prior.mean_loc]
    scales = [prior.log_ls_scale] * dim + [prior.log_scale_scale, prior.mean_scale]
    if with_noise:
        locs.append(prior.log_noise_loc)
        scales.append(prior.log_noise_scale)
    return np.array(locs), np.array(scales)


class GP:
    """A GP conditioned on data, with fixed hyperparameters.

    Parameters
    ----------
    X : array, shape (n, D)
        Encoded inputs.
    y : array, shape (n,)
        (Standardised) outputs.
    hyper : GPHyper
    noise : array, shape (n,)
        Noise variance of each observation.
    kernel : {"matern52", "rbf"}
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        hyper: GPHyper,
        noise: np.ndarray,
        kernel: KernelName = "matern52",
        info: dict[str, Any] | None = None,
    ) -> None:
        self.X = np.array(X, dtype=float)
        self.y = np.array(y, dtype=float)
        self.hyper = hyper
        self.noise = np.array(noise, dtype=float)
        self.kernel: KernelName = kernel
        self.info: dict[str, Any] = dict(info or {})
        self._ls = np.asarray(hyper.lengthscales, dtype=float)
        self._Z = (self.X - _CENTRE) / self._ls
        K = hyper.outputscale * _kernel_parts(_sqdist(self._Z, self._Z), kernel)[0]
        K[np.diag_indices_from(K)] = hyper.outputscale + self.noise
        self._L = _cholesky(K)
        self._alpha = lapack.dpotrs(self._L, self.y - hyper.mean, lower=1)[0]

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent ``f`` at ``Xs`` (``(N, D)``)."""
        mean, var, _, _ = self._predict(Xs, grad=False)
        return mean, var

    def predict_with_grad(
        self, Xs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients in ``Xs``: shapes ``(N,), (N,), (N, D), (N, D)``."""
        mean, var, dmean, dvar = self._predict(Xs, grad=True)
        assert dmean is not None and dvar is not None
        return mean, var, dmean, dvar

    def _predict(
        self, Xs: np.ndarray, *, grad: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        Xs = np.asarray(Xs, dtype=float)
        s2 = self.hyper.outputscale
        Zs = (Xs - _CENTRE) / self._ls
        kval, G = _kernel_parts(_sqdist(Zs, self._Z), self.kernel)
        Ks = s2 * kval  # (N, n)
        mean = self.hyper.mean + Ks @ self._alpha
        V = solve_triangular(self._L, Ks.T, lower=True, check_finite=False)  # (n, N)
        var = s2 - np.einsum("ij,ij->j", V, V)
        floored = var < 1e-12 * s2  # only round-off makes it smaller (or negative)
        var[floored] = 1e-12 * s2
        if not grad:
            return mean, var, None, None
        Wt = solve_triangular(self._L, V, lower=True, trans="T", check_finite=False)  # K^-1 k*
        inv_ls2 = 1.0 / (self._ls * self._ls)
        A = G * self._alpha[None, :]  # dk_i/dx = -s2 G_i (x - X_i) / ls^2
        B = G * Wt.T
        dmean = -s2 * (Xs * A.sum(1)[:, None] - A @ self.X) * inv_ls2
        dvar = 2.0 * s2 * (Xs * B.sum(1)[:, None] - B @ self.X) * inv_ls2
        dvar[floored] = 0.0
        return mean, var, dmean, dvar

    def condition(self, Xn: np.ndarray, yn: np.ndarray, noise_n: np.ndarray) -> GP:
        """The same GP (same hyperparameters) with extra data appended."""
        return GP(
            np.vstack([self.X, Xn]),
            np.concatenate([self.y, yn]),
            self.hyper,
            np.concatenate([self.noise, noise_n]),
            self.kernel,
            self.info,
        )


def fit_gp(
    X: np.ndarray,
    y: np.ndarray,
    *,
    kernel: KernelName = "matern52",
    fixed_noise: np.ndarray | None = None,
    prior: GPPrior | None = None,
    rng: np.random.Generator | None = None,
    n_starts: int = 3,
    n_candidates: int = 16,
    maxiter: int = 200,
) -> GP:
    """MAP hyperparameters by multi-start L-BFGS-B, and the GP conditioned on ``(X, y)``.

    Starts: the prior mode, plus the best ``n_starts - 1`` of ``n_candidates`` draws from the
    prior with halved scales (judged by the objective value alone, one Cholesky each). Each
    start runs L-BFGS-B with the analytic gradient inside the bounds of the module constants.
    ``fixed_noise`` (per-point variances) fixes the noise; otherwise it is inferred.
    ``GP.info`` records the objective, the starts and the time spent.
    """
    started = time.perf_counter()
    n, dim = X.shape
    prior = prior or GPPrior.dim_scaled(dim)
    rng = rng if rng is not None else np.random.default_rng(0)
    infer_noise = fixed_noise is None
    locs, scales = _prior_vectors(prior, dim, infer_noise)
    bounds = [LOG_LENGTHSCALE_BOUNDS] * dim + [LOG_OUTPUTSCALE_BOUNDS, MEAN_BOUNDS]
    if infer_noise:
        bounds.append(LOG_NOISE_BOUNDS)
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])

    work = _Workspace(n)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            return neg_log_posterior(
                theta, X, y, kernel=kernel, prior=prior, fixed_noise=fixed_noise, work=work
            )
        except np.linalg.LinAlgError:
            return 1e25, np.zeros_like(theta)

    starts = [np.clip(locs, lo, hi)]
    if n_starts > 1 and n_candidates > 0:
        cands = np.clip(
            locs + 0.5 * scales * rng.standard_normal((n_candidates, locs.size)), lo, hi
        )
        # Lengthscales drawn per dimension are mostly useless starts; draw a shared offset.
        cands[:, :dim] = np.clip(
            locs[:dim] + 0.5 * scales[:dim] * rng.standard_normal((n_candidates, 1)),
            lo[:dim],
            hi[:dim],
        )
        vals = np.array([objective(c)[0] for c in cands])
        starts += [cands[i] for i in np.argsort(vals)[: n_starts - 1]]

    best_theta, best_val, nfev = starts[0], math.inf, 0
    for theta0 in starts:
        res = minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter},
        )
        nfev += int(res.nfev)
        if math.isfinite(res.fun) and res.fun < best_val:
            best_theta, best_val = res.x, float(res.fun)
    ls, s2, c, noise = _unpack(best_theta, dim, fixed_noise)
    hyper = GPHyper(
        lengthscales=ls, outputscale=s2, mean=c, noise=float(noise) if infer_noise else None
    )
    noise_vec = np.full(n, float(noise)) if infer_noise else np.asarray(fixed_noise, dtype=float)
    info = {
        "neg_log_posterior": best_val,
        "n_starts": len(starts),
        "nfev": nfev,
        "fit_time_s": time.perf_counter() - started,
    }
    return GP(X, y, hyper, noise_vec, kernel, info)
