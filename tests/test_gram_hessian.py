"""Hessians of the form X'*diag(d)*X (+ s*eye) by a symmetric rank-k update into one buffer (issue 17, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.runtime import kernels

LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


def test_logistic_hessian_source_is_one_gram() -> None:
    src = matdiff.hessian(LOGISTIC, wrt="w").source()
    assert "_K.gram(X, " in src and "_np.eye" not in src and "X.T @" not in src


@pytest.mark.parametrize("order", ["C", "F"])
def test_gram_kernel(order: str, rng: np.random.Generator) -> None:
    X = np.asarray(rng.standard_normal((30, 7)), order=order)
    d = rng.random(30)
    ref = X.T @ np.diag(d) @ X + 0.5 * np.eye(7)
    got = kernels.gram(X, d, 0.5)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(got, got.T)
    np.testing.assert_allclose(kernels.gram(X), X.T @ X, rtol=1e-12, atol=1e-12)
    neg = d - 0.5  # negative weights: the general product
    np.testing.assert_allclose(kernels.gram(X, neg), X.T @ (neg[:, None] * X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch", "dask"])
@pytest.mark.parametrize("expr,wrt", [(LOGISTIC, "w"), ("norm2(A*x - h)^2 + x'*x", "x"),
                                      ("sum(exp(A*x)) - 3*x'*x", "x")])
def test_gram_hessians_match_evaluate(backend: str, expr: str, wrt: str, rng: np.random.Generator) -> None:
    if backend != "numpy":
        mod = pytest.importorskip(backend)
        if backend == "jax":
            mod.config.update("jax_enable_x64", True)
    h = matdiff.hessian(expr, wrt=wrt)
    vals = {"y": rng.choice([-1.0, 1.0], 12), "X": rng.standard_normal((12, 4)), "w": rng.standard_normal(4),
            "c": 0.2, "A": rng.standard_normal((6, 4)) / 2, "x": rng.standard_normal(4), "h": rng.standard_normal(6)}
    vals = {k: v for k, v in vals.items() if k in h.variables}
    got = np.asarray(h.compile(backend=backend)(**vals))
    np.testing.assert_allclose(got, h.evaluate(vals), rtol=1e-10, atol=1e-12)


def test_batched_gram_hessian(rng: np.random.Generator) -> None:
    h = matdiff.hessian(LOGISTIC, wrt="w")
    W = rng.standard_normal((3, 4))
    vals = {"y": rng.choice([-1.0, 1.0], 12), "X": rng.standard_normal((12, 4)), "c": 0.2}
    got = h.compile(batch=["w"])(w=W, **vals)
    for i in range(3):
        np.testing.assert_allclose(got[i], h.evaluate({**vals, "w": W[i]}), rtol=1e-10, atol=1e-12)
