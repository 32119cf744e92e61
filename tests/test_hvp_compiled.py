"""Compiled Hessian-vector products (issue 17, item 3): ``h.hvp`` runs generated code compiled on first use and
cached; ``h.compile(hvp=True)`` is the callable for loops, on every installed backend; numbers against the dense
Hessian, the interpreted hvp and central differences of the gradient."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff

CASES = [
    ("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", "w", None),
    ("x'*A*x + log(sum(exp(x)))", "x", None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("norm_fro(A*X - B)^2 + tr(X'*X*X'*X)", "X", None),
    ("c^3*exp(c)", "c", None),
    ("a*h'*x", "x", None),  # the Hessian is 0
]


def _values(expr: str, rng: np.random.Generator) -> dict:
    n = 4
    if "y.*" in expr:
        return {"y": rng.choice([-1.0, 1.0], 12), "X": rng.standard_normal((12, n)), "w": rng.standard_normal(n),
                "c": 0.1}
    vals = {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n)), "h": rng.standard_normal(n), "a": 1.5,
            "c": 0.7, "X": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n))}
    if "S" in expr:
        b = rng.standard_normal((n, n))
        vals = {"S": b @ b.T / n + np.eye(n), "C": np.eye(n) + 0.1 * (b + b.T)}
    return vals


def _direction(h: matdiff.results.hessian.Hessian, vals: dict, rng: np.random.Generator) -> np.ndarray | float:
    x = np.asarray(vals[h.wrt], dtype=float)
    if x.ndim == 0:
        return float(rng.standard_normal())
    v = rng.standard_normal(x.shape)
    return (v + v.T) / 2 if h.var.kind == "spd" else v


@pytest.mark.parametrize("expr,wrt,types", CASES)
def test_hvp_matches_dense_and_interpreted(expr: str, wrt: str, types: dict | None,
                                           rng: np.random.Generator) -> None:
    h = matdiff.hessian(expr, wrt=wrt, types=types)
    vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
    v = _direction(h, vals, rng)
    got = h.hvp(vals, v)
    ref = h._hvp_interpreted(v, **vals)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert np.shape(got) == np.shape(vals[wrt])
    H = np.asarray(h.evaluate(vals))
    dense = H @ np.ravel(v, order="F") if H.ndim == 2 else H * v
    np.testing.assert_allclose(np.ravel(got, order="F"), np.ravel(dense), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("expr,wrt,types", CASES[:4])
def test_hvp_against_differences_of_the_gradient(expr: str, wrt: str, types: dict | None,
                                                 rng: np.random.Generator) -> None:
    g = matdiff.grad(expr, wrt=wrt, types=types).compile()
    h = matdiff.hessian(expr, wrt=wrt, types=types)
    vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
    v = _direction(h, vals, rng)
    eps = 1e-5
    plus = g(**{**vals, wrt: vals[wrt] + eps * v})
    minus = g(**{**vals, wrt: vals[wrt] - eps * v})
    np.testing.assert_allclose(h.hvp(vals, v), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-7)


def test_hvp_compiled_once_and_cached(rng: np.random.Generator) -> None:
    h = matdiff.hessian(CASES[0][0], wrt="w")
    vals = _values(CASES[0][0], rng)
    h.hvp(vals, np.ones(4))
    fn = h.__dict__["_hvp_numpy"]
    h.hvp(vals, np.zeros(4))
    assert h.__dict__["_hvp_numpy"] is fn
    assert h.compile(hvp=True) is h.compile(hvp=True)
    assert "def hvp_w(" in h.hvp_source() and "_d_w" in h.hvp_source()


@pytest.mark.parametrize("backend", ["jax", "torch", "dask"])
def test_hvp_on_every_backend(backend: str, rng: np.random.Generator) -> None:
    mod = pytest.importorskip(backend)
    if backend == "jax":
        mod.config.update("jax_enable_x64", True)
    for expr, wrt, types in CASES[:4]:
        h = matdiff.hessian(expr, wrt=wrt, types=types)
        vals = {k: v for k, v in _values(expr, rng).items() if k in h.variables}
        v = _direction(h, vals, rng)
        try:
            f = h.compile(hvp=True, backend=backend)
        except matdiff.MatdiffError as err:  # a backend that cannot compute a kernel says so at compile time
            assert backend in str(err)
            continue
        got = np.asarray(f(v, **vals))
        np.testing.assert_allclose(got, h.hvp(vals, v), rtol=1e-9, atol=1e-10)


def test_hvp_batched(rng: np.random.Generator) -> None:
    h = matdiff.hessian(CASES[0][0], wrt="w")
    vals = _values(CASES[0][0], rng)
    V = rng.standard_normal((3, 4))
    got = h.compile(hvp=True, batch=True)(V, **{k: np.stack([v] * 3) for k, v in vals.items()})
    for i in range(3):
        np.testing.assert_allclose(got[i], h.hvp(vals, V[i]), rtol=1e-12)
    only_v = h.compile(hvp=True, batch=[])(V, **vals)  # the direction alone batched
    np.testing.assert_allclose(only_v, got, rtol=1e-12)


def test_hvp_domain_error(rng: np.random.Generator) -> None:
    h = matdiff.hessian("logdet(S)", wrt="S", types={"S": "spd"})
    with pytest.raises(matdiff.DomainError):
        h.hvp({"S": -np.eye(3)}, np.eye(3))
