"""Sums of n x n terms of a Hessian into one buffer (_K.msum: dense terms, diagonals, rank-1 terms by dger).

The references are independent of the lowering: hand-written formulas, and central differences of the compiled
gradient (which has no msum in it)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.errors import DomainError
from matdiff.runtime import kernels

EXPRS = ["x'*A*x + log(sum(exp(x)))", "log(sum(exp(x))) - 2*x'*x", "x'*A*x - (b'*x)^2", "sum(exp(x)) + x'*A*x",
         "c*log(sum(exp(x))) + x'*A*x", "x'*A*x + x'*B*x - log(sum(exp(x)))"]


def _values(rng: np.random.Generator, n: int = 6) -> dict:
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n)),
            "b": rng.standard_normal(n), "c": 0.7}


def _fd_hessian(expr: str, vals: dict) -> np.ndarray:
    """Central differences of the compiled gradient, column by column."""
    g = matdiff.grad(expr, wrt="x")
    fn = g.compile()
    x = vals["x"]
    cols = []
    for j in range(x.size):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros_like(x)
        e[j] = h
        cols.append((fn(**{**vals, "x": x + e}) - fn(**{**vals, "x": x - e})) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("order", ["C", "F"])
def test_msum_kernel_against_formula(order: str, rng: np.random.Generator) -> None:
    n = 7
    A = np.asarray(rng.standard_normal((n, n)), order=order)
    B = np.asarray(rng.standard_normal((n, n)), order=order)
    p, q = rng.random(n), rng.standard_normal(n)
    cases = [
        (([A, A.T],), dict(diag=[p], outer=[(-1, p, p)]), A + A.T + np.diag(p) - np.outer(p, p)),
        (([(2.5, A), (-1, B), B.T],), dict(diag=[3.0, q], outer=[(0.5, q, p), (-2, p, q)]),
         2.5 * A - B + B.T + 3 * np.eye(n) + np.diag(q) + 0.5 * np.outer(q, p) - 2 * np.outer(p, q)),
        (([],), dict(diag=[p, -4], outer=[(-1.0, p, p)]), np.diag(p) - 4 * np.eye(n) - np.outer(p, p)),
        (([A.T],), dict(outer=[(np.float64(0.3), p, q)]), A.T + 0.3 * np.outer(p, q)),
        (([A, (-1, A.T)],), dict(diag=[p]), A - A.T + np.diag(p)),
    ]
    for args, kw, ref in cases:
        got = kernels.msum(*args, **kw)
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(kernels.msum_plain(*args, **kw), ref, rtol=1e-13, atol=1e-13)
    # the inputs are not written to
    A0 = A.copy()
    kernels.msum([A], diag=[p], outer=[(1, p, p)])
    assert np.array_equal(A, A0)


def test_msum_kernel_rectangular_complex_and_nan(rng: np.random.Generator) -> None:
    A = rng.standard_normal((4, 6))
    u, v = rng.standard_normal(4), rng.standard_normal(6)
    np.testing.assert_allclose(kernels.msum([A, A], outer=[(-1, u, v)]), 2 * A - np.outer(u, v), rtol=1e-13)
    z = v + 1e-20j  # complex values (the complex-step check): the plain formula
    got = kernels.msum([A], outer=[(1, u, z)])
    assert got.dtype == np.complex128
    np.testing.assert_allclose(got, A + np.outer(u, z), rtol=1e-13)
    S = rng.standard_normal((4, 4))
    w = np.array([1.0, np.nan, 2.0, 3.0])
    assert np.isnan(kernels.msum([S], diag=[w])).any()
    assert np.isnan(kernels.msum([S], outer=[(-1, w, w)])).any()


@pytest.mark.parametrize("one_thread", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (130, 90), (300, 300), (40, 1000)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_msum_rank1_terms_in_blocks_or_one_call_give_the_formula(one_thread: bool, shape: tuple, order: str,
                                                                 rng: np.random.Generator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank-1 terms go to dger in column blocks below OpenBLAS's threading size (default threads) or in one call
    (BLAS pinned to one thread); both are the plain formula, whatever the shape and memory order."""
    monkeypatch.setattr(kernels, "_BLAS_ONE_THREAD", one_thread)
    m, n = shape
    M = np.asarray(rng.standard_normal(shape), order=order)
    u, v, w = rng.standard_normal(m), rng.standard_normal(n), rng.standard_normal(n)
    got = kernels.msum([M], outer=[(-0.5, u, v), (2.0, u, w)])
    np.testing.assert_allclose(got, M - 0.5 * np.outer(u, v) + 2.0 * np.outer(u, w), rtol=1e-13, atol=1e-13)
    assert got is not M  # the dense term is not overwritten



@pytest.mark.parametrize("expr", EXPRS)
def test_msum_hessians_match_finite_differences(expr: str, rng: np.random.Generator) -> None:
    h = matdiff.hessian(expr, wrt="x")
    assert "_K.msum(" in h.source() and "_np.outer" not in h.source() and "_np.diag" not in h.source()
    vals = {k: v for k, v in _values(rng).items() if k in h.variables}
    got = h.compile()(**vals)
    np.testing.assert_allclose(got, _fd_hessian(expr, vals), rtol=1e-6, atol=1e-6)
    v = rng.standard_normal(vals["x"].size)
    np.testing.assert_allclose(h.compile(hvp=True)(v, **vals), got @ v, rtol=1e-10, atol=1e-12)


def test_lse_hessian_hand_formula(rng: np.random.Generator) -> None:
    for n in (1, 2, 50):
        x, A = 30 * rng.standard_normal(n), rng.standard_normal((n, n))
        p = np.exp(x - x.max())
        p /= p.sum()
        ref = A + A.T + np.diag(p) - np.outer(p, p)
        got = matdiff.hessian("x'*A*x + log(sum(exp(x)))", wrt="x").compile()(x=x, A=A)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["jax", "torch", "dask"])
@pytest.mark.parametrize("expr", EXPRS[:3])
def test_msum_hessians_on_backends(backend: str, expr: str, rng: np.random.Generator) -> None:
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    h = matdiff.hessian(expr, wrt="x")
    vals = {k: v for k, v in _values(rng).items() if k in h.variables}
    got = np.asarray(h.compile(backend=backend)(**vals))
    np.testing.assert_allclose(got, h.compile()(**vals), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("expr", EXPRS[:3])
def test_batched_msum_hessian(expr: str, rng: np.random.Generator) -> None:
    h = matdiff.hessian(expr, wrt="x")
    vals = {k: v for k, v in _values(rng).items() if k in h.variables}
    X = rng.standard_normal((3, vals["x"].size))
    got = h.compile(batch=["x"])(**{**vals, "x": X})
    for i in range(3):
        np.testing.assert_allclose(got[i], h.compile()(**{**vals, "x": X[i]}), rtol=1e-12, atol=1e-12)


def test_nan_input_is_a_domain_error_naming_it(rng: np.random.Generator) -> None:
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", wrt="x")
    vals = _values(rng)
    A = vals["A"].copy()
    A[1, 2] = np.nan
    with pytest.raises(DomainError, match="value of A"):
        h.compile()(x=vals["x"], A=A)
    x = vals["x"].copy()
    x[0] = np.nan
    with pytest.raises(DomainError, match="value of x"):
        h.compile()(x=x, A=vals["A"])
    with pytest.raises(DomainError, match="value of x"):
        h.compile(hvp=True)(np.ones(6), x=x, A=vals["A"])
    with pytest.raises(DomainError, match="value of _d_x|NaN"):
        h.compile(hvp=True)(np.full(6, np.nan), x=vals["x"], A=vals["A"])


def test_common_factor_of_a_vector_sum(rng: np.random.Generator) -> None:
    """p.*v - (p'*v)*p lowered as p.*(v - p'*v): the lse hvp; and sums where the pattern is absent or signed."""
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", wrt="x")
    assert "(_d_x - (_t0 @ _d_x))" in h.hvp_source().replace("_t3", "_t0")
    n = 9
    x, A, v, b = rng.standard_normal(n), rng.standard_normal((n, n)), rng.standard_normal(n), rng.standard_normal(n)
    p = np.exp(x - x.max())
    p /= p.sum()
    np.testing.assert_allclose(h.compile(hvp=True)(v, x=x, A=A), A @ v + v @ A + p * v - (p @ v) * p, rtol=1e-12)
    types = {"x": "vector", "b": "vector"}
    for expr, ref in [("x.*b + 3*(b'*x)*x", x * b + 3 * (b @ x) * x), ("x.*b - 2*x", x * b - 2 * x),
                      ("b.*x - (x'*x)*x + b", b * x - (x @ x) * x + b), ("exp(x).*b - x", np.exp(x) * b - x)]:
        f = matdiff.compile(f"sum(({expr}).^2)", wrt="x", types=types)
        val, grads = f(x=x, b=b)
        assert val == pytest.approx(np.sum(ref**2), rel=1e-12)
        fd = []
        for j in range(n):  # central differences of the value
            e = np.zeros(n)
            e[j] = 1e-6
            fd.append((f(x=x + e, b=b)[0] - f(x=x - e, b=b)[0]) / 2e-6)
        np.testing.assert_allclose(grads["x"], fd, rtol=1e-6, atol=1e-6)
