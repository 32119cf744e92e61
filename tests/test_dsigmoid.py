"""sigmoid(u) .* sigmoid(-u) by _K.dsigmoid (one exp(-|u|)), and the gram kernel's mirror (issue 17 follow-up)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import matdiff
from matdiff.errors import DomainError
from matdiff.runtime import kernels

LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


def test_dsigmoid_kernel_exact_where_s_times_1_minus_s_is_not() -> None:
    u = np.array([-800.0, -40.0, -1.5, 0.0, 1e-300, 2.0, 37.0, 40.0, 700.0, 800.0])
    got = kernels.dsigmoid(u)
    ref = expit(u) * expit(-u)  # both factors exact in float64
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
    assert got[7] > 0 and abs(got[7] / np.exp(-40.0) - 1) < 1e-14  # s*(1-s) gives 0 there
    assert got[3] == 0.25
    s = expit(u[7])
    assert s * (1 - s) == 0.0  # what the naive form loses
    assert np.isnan(kernels.dsigmoid(np.array([1.0, np.nan]))[1])
    assert kernels.dsigmoid(np.array([np.inf, -np.inf])).tolist() == [0.0, 0.0]


def test_dsigmoid_kernel_scalars_ints_and_complex_step() -> None:
    assert abs(kernels.dsigmoid(1.3) - expit(1.3) * expit(-1.3)) < 1e-16
    np.testing.assert_allclose(kernels.dsigmoid(np.array([1, -2])), expit([1, -2]) * expit([-1, 2]), rtol=1e-14)
    h = 1e-30
    for x in (-3.0, 0.4, 5.0):  # the complex step gives the derivative of the real function
        d = np.imag(kernels.dsigmoid(np.array([x + 1j * h])))[0] / h
        s = expit(x)
        np.testing.assert_allclose(d, s * (1 - s) * (1 - 2 * s), rtol=1e-10)


def test_logistic_hessian_and_hvp_source_use_dsigmoid() -> None:
    h = matdiff.hessian(LOGISTIC, wrt="w")
    assert "_K.dsigmoid(" in h.source() and "_expit" not in h.source()
    assert "_K.dsigmoid(" in h.hvp_source() and "_expit" not in h.hvp_source()


def _hand(y, X, w, c):
    s = expit(y * (X @ w)) * expit(-y * (X @ w))
    return X.T @ (s[:, None] * y[:, None] ** 2 * X) + 2 * c * np.eye(X.shape[1])


@pytest.mark.parametrize("scale", [1.0, 60.0])  # 60: margins beyond 37, where 1 - sigmoid rounds to 0
def test_logistic_hessian_matches_hand_formula(scale: float, rng: np.random.Generator) -> None:
    y, X, w = rng.choice([-1.0, 2.0], 40), rng.standard_normal((40, 6)), scale * rng.standard_normal(6)
    h = matdiff.hessian(LOGISTIC, wrt="w")
    ref = _hand(y, X, w, 0.3)
    got = h.compile()(y=y, X=X, w=w, c=0.3)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    assert np.array_equal(got, got.T)
    v = rng.standard_normal(6)
    np.testing.assert_allclose(h.compile(hvp=True)(v, y=y, X=X, w=w, c=0.3), ref @ v, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(h.evaluate(dict(y=y, X=X, w=w, c=0.3)), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["jax", "torch", "dask"])
def test_logistic_hessian_on_backends(backend: str, rng: np.random.Generator) -> None:
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    y, X, w = rng.choice([-1.0, 1.0], 30), rng.standard_normal((30, 5)), rng.standard_normal(5)
    h = matdiff.hessian(LOGISTIC, wrt="w")
    got = np.asarray(h.compile(backend=backend)(y=y, X=X, w=w, c=0.1))
    np.testing.assert_allclose(got, _hand(y, X, w, 0.1), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(5)
    got = np.asarray(h.compile(backend=backend, hvp=True)(v, y=y, X=X, w=w, c=0.1))
    np.testing.assert_allclose(got, _hand(y, X, w, 0.1) @ v, rtol=1e-10, atol=1e-12)


def test_batched_logistic_hessian(rng: np.random.Generator) -> None:
    y, X, W = rng.choice([-1.0, 1.0], 30), rng.standard_normal((30, 5)), rng.standard_normal((3, 5))
    got = matdiff.hessian(LOGISTIC, wrt="w").compile(batch=["w"])(y=y, X=X, w=W, c=0.1)
    for i in range(3):
        np.testing.assert_allclose(got[i], _hand(y, X, W[i], 0.1), rtol=1e-10, atol=1e-12)


def test_nan_in_logistic_hessian_is_a_domain_error(rng: np.random.Generator) -> None:
    y, X, w = rng.choice([-1.0, 1.0], 30), rng.standard_normal((30, 5)), rng.standard_normal(5)
    X[3, 2] = np.nan
    with pytest.raises(DomainError, match="value of X"):
        matdiff.hessian(LOGISTIC, wrt="w").compile()(y=y, X=X, w=w, c=0.1)


@pytest.mark.parametrize("order", ["C", "F"])
def test_gram_mirror_exact_and_no_overflow_on_the_diagonal(order: str, rng: np.random.Generator) -> None:
    X = np.asarray(rng.standard_normal((50, 8)), order=order)
    d = rng.random(50)
    got = kernels.gram(X, d, 0.25)
    assert np.array_equal(got, got.T)
    np.testing.assert_allclose(got, X.T @ (d[:, None] * X) + 0.25 * np.eye(8), rtol=1e-12, atol=1e-12)
    big = np.full((2, 2), 1.0)
    big[:, 0] = 0.85e154  # C_00 ~ 1.45e308, finite; 2*C_00 would not be
    got = kernels.gram(big)
    assert np.all(np.isfinite(got)) and got[0, 0] == pytest.approx(2 * 0.85e154**2)
