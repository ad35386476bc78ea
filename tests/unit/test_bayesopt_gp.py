"""Gaussian process: posterior and marginal likelihood against closed forms and scikit-learn,
analytic gradients against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.spatial.distance import cdist
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern

from workers.solvers.bayesopt.gp import (
    GP,
    GPHyper,
    GPPrior,
    fit_gp,
    kernel_matrix,
    neg_log_posterior,
    standardize,
)

LS = np.array([0.3, 0.7])
S2 = 1.7
MEAN = 0.4
NOISE = 1e-3


def reference_kernel(A: np.ndarray, B: np.ndarray, kernel: str) -> np.ndarray:
    """The textbook formulas, written independently of the module (cdist on scaled inputs)."""
    r = cdist(A / LS, B / LS)
    if kernel == "rbf":
        return S2 * np.exp(-0.5 * r**2)
    return S2 * (1 + math.sqrt(5) * r + 5.0 / 3.0 * r**2) * np.exp(-math.sqrt(5) * r)


def data(n: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2
    return X, y


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_posterior_matches_closed_form(kernel: str) -> None:
    X, y = data()
    Xs = np.random.default_rng(1).random((5, 2))
    gp = GP(X, y, GPHyper(LS, S2, MEAN), np.full(len(y), NOISE), kernel)  # type: ignore[arg-type]
    K = reference_kernel(X, X, kernel) + NOISE * np.eye(len(y))
    Ks = reference_kernel(Xs, X, kernel)
    mean_ref = MEAN + Ks @ np.linalg.solve(K, y - MEAN)
    var_ref = S2 - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    mean, var = gp.predict(Xs)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, var_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(kernel_matrix(Xs, X, LS, S2, kernel), Ks, rtol=1e-12, atol=1e-14)  # type: ignore[arg-type]


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_posterior_matches_scikit_learn(kernel: str) -> None:
    """scikit-learn's GPR with the same fixed kernel (alpha = noise on the training diagonal only,
    zero mean on y - MEAN) gives the latent posterior."""
    X, y = data(9)
    Xs = np.random.default_rng(2).random((6, 2))
    base = Matern(length_scale=LS, nu=2.5) if kernel == "matern52" else RBF(length_scale=LS)
    sk = GaussianProcessRegressor(ConstantKernel(S2, "fixed") * base, alpha=NOISE, optimizer=None)
    sk.fit(X, y - MEAN)
    m_ref, sd_ref = sk.predict(Xs, return_std=True)
    gp = GP(X, y, GPHyper(LS, S2, MEAN), np.full(len(y), NOISE), kernel)  # type: ignore[arg-type]
    mean, var = gp.predict(Xs)
    np.testing.assert_allclose(mean, m_ref + MEAN, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.sqrt(var), sd_ref, rtol=1e-6, atol=1e-9)
    # and the log marginal likelihood (no prior) agrees with scikit-learn's at the same theta
    theta = np.r_[np.log(LS), math.log(S2), MEAN]
    nll, _ = neg_log_posterior(theta, X, y, kernel=kernel, fixed_noise=np.full(len(y), NOISE))  # type: ignore[arg-type]
    lml = sk.log_marginal_likelihood(sk.kernel_.theta)
    assert -nll == pytest.approx(lml, rel=1e-9)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
@pytest.mark.parametrize("infer_noise", [False, True])
@pytest.mark.parametrize("with_prior", [False, True])
def test_marginal_likelihood_gradient(kernel: str, infer_noise: bool, with_prior: bool) -> None:
    X, y = data(12, seed=3)
    X = np.hstack([X, np.random.default_rng(4).random((12, 1))])
    y, _, _ = standardize(y)
    fixed = None if infer_noise else np.linspace(1e-3, 5e-3, 12)
    theta = np.r_[np.log([0.3, 0.6, 1.4]), 0.2, -0.3]
    if infer_noise:
        theta = np.r_[theta, math.log(0.02)]
    prior = GPPrior.dim_scaled(3) if with_prior else None

    def f(t: np.ndarray) -> float:
        return neg_log_posterior(t, X, y, kernel=kernel, prior=prior, fixed_noise=fixed)[0]  # type: ignore[arg-type]

    _, grad = neg_log_posterior(theta, X, y, kernel=kernel, prior=prior, fixed_noise=fixed)  # type: ignore[arg-type]
    fd = approx_fprime(theta, f, 1e-7)
    np.testing.assert_allclose(grad, fd, rtol=2e-5, atol=2e-5)


def test_prior_mode_is_the_lognormal_mode() -> None:
    """Hvarfner et al.'s LogNormal(sqrt2 + log(d)/2, sqrt3), as a density in the lengthscale, has
    its mode at exp(mu - sigma^2); the log-space normal must peak there."""
    d = 6
    prior = GPPrior.dim_scaled(d)
    mu, sigma = math.sqrt(2) + 0.5 * math.log(d), math.sqrt(3)
    assert math.exp(prior.log_ls_loc) == pytest.approx(math.exp(mu - sigma**2))
    assert prior.log_ls_scale == pytest.approx(sigma)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_posterior_gradients(kernel: str) -> None:
    X, y = data(10)
    gp = GP(X, y, GPHyper(LS, S2, MEAN), np.full(len(y), NOISE), kernel)  # type: ignore[arg-type]
    Xs = np.random.default_rng(5).random((4, 2))
    _, _, dmean, dvar = gp.predict_with_grad(Xs)
    for i in range(len(Xs)):
        fd_m = approx_fprime(Xs[i], lambda x: gp.predict(x[None, :])[0][0], 1e-7)
        fd_v = approx_fprime(Xs[i], lambda x: gp.predict(x[None, :])[1][0], 1e-7)
        np.testing.assert_allclose(dmean[i], fd_m, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dvar[i], fd_v, rtol=1e-5, atol=1e-6)


def test_fit_finds_the_relevant_dimension() -> None:
    """y depends on x0 only: the MAP lengthscale of x1 is much longer, and the fit beats the
    prior mode on the objective it minimises."""
    rng = np.random.default_rng(6)
    X = rng.random((30, 2))
    y, _, _ = standardize(np.sin(6 * X[:, 0]))
    gp = fit_gp(X, y, fixed_noise=np.full(30, 1e-6), rng=np.random.default_rng(0))
    ls = gp.hyper.lengthscales
    assert ls[1] > 5 * ls[0]
    prior = GPPrior.dim_scaled(2)
    theta0 = np.r_[prior.log_ls_loc, prior.log_ls_loc, 0.0, 0.0]
    start, _ = neg_log_posterior(theta0, X, y, prior=prior, fixed_noise=np.full(30, 1e-6))
    assert gp.info["neg_log_posterior"] < start
    # the noiseless GP interpolates its data
    np.testing.assert_allclose(gp.predict(X)[0], y, atol=1e-3)


def test_duplicated_points_need_jitter_not_failure() -> None:
    X = np.vstack([np.full((3, 2), 0.5), np.random.default_rng(7).random((4, 2))])
    y = np.r_[1.0, 1.0, 1.0, 0.0, 0.5, -0.3, 0.2]
    gp = GP(X, y, GPHyper(np.array([3.0, 3.0]), 1.0, 0.0), np.zeros(7))
    mean, var = gp.predict(X[:1])
    assert np.isfinite(mean).all() and np.isfinite(var).all()
    fit = fit_gp(X, y, fixed_noise=np.zeros(7))
    assert np.isfinite(fit.predict(X)[0]).all()


def test_standardize() -> None:
    z, shift, scale = standardize(np.array([1.0, 3.0, 5.0]))
    np.testing.assert_allclose(z * scale + shift, [1.0, 3.0, 5.0])
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    z, shift, scale = standardize(np.array([2.0, 2.0]))
    assert scale == 1.0 and np.all(z == 0.0)
