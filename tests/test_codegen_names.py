"""Generated code keeps the user's names apart from its own, and takes inputs as evaluate does (issue 13, 1-4).

* a variable named like a temporary (``t0``, ``t1``) or like a name of the runtime (``ot``, whose
  Hessian direction was ``_dot``) is not overwritten: compiled gradients, ``matdiff.compile`` and
  Hessians equal ``evaluate`` and central differences, on every backend installed;
* keywords and escaped keywords (``lambda``, ``lambda_``, ``lambda__``) in one expression compile;
* an array given for a scalar variable is a ShapeError everywhere (a one-entry array is a scalar);
* integer, boolean and float32 inputs are computed in float64, in compiled code as in ``evaluate``.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import on_host, well_conditioned
from matdiff.errors import ShapeError


def _backends() -> list[str]:
    out = ["numpy", "dask"]
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        out.append("jax")
    except ImportError:  # pragma: no cover
        pass
    try:
        import array_api_compat  # noqa: F401
        import torch  # noqa: F401

        out.append("torch")
    except ImportError:  # pragma: no cover
        pass
    return out


BACKENDS = _backends()


_np = on_host


def _central(expr: str, types: dict | None, values: dict, wrt: str, direction: np.ndarray) -> float:
    """d/dh f(values + h*direction) at 0 by central differences with one Richardson step."""
    def f(h: float) -> float:
        return float(matdiff.evaluate(expr, {**values, wrt: values[wrt] + h * direction}, types=types))
    h = 1e-3
    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3


def _check_gradient(expr: str, wrt: str, values: dict, types: dict | None = None, backend: str = "numpy") -> None:
    r = matdiff.grad(expr, wrt=wrt, types=types)
    g_eval = np.asarray(r.evaluate(values))
    g_comp = _np(r.compile(backend=backend)(**values))
    np.testing.assert_allclose(g_comp, g_eval, rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(2):
        v = rng.standard_normal(np.shape(values[wrt]))
        np.testing.assert_allclose(np.sum(g_comp * v), _central(expr, types, values, wrt, v), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------ 1. names of temporaries
@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_named_like_a_temporary(backend: str) -> None:
    t0 = np.array([0.1, 0.2, 0.3])
    _check_gradient("sum(exp(t0)) + t0'*t0", "t0", {"t0": t0}, backend=backend)
    np.testing.assert_allclose(_np(matdiff.grad("sum(exp(t0)) + t0'*t0", wrt="t0").compile(backend=backend)(t0=t0)),
                               np.exp(t0) + 2 * t0, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_matrix_named_like_a_temporary(backend: str) -> None:
    rng = np.random.default_rng(0)
    values = {"x": rng.standard_normal(3), "t1": rng.standard_normal((3, 3))}
    _check_gradient("x'*t1*x + tr(t1*t1')", "t1", values, types={"t1": "matrix"}, backend=backend)


def test_value_and_gradient_named_like_temporaries() -> None:
    rng = np.random.default_rng(2)
    t0, t2 = rng.standard_normal(4), rng.standard_normal(4)
    expr = "sum(exp(t0)) + t0'*t0 + t2'*t0"
    fg = matdiff.compile(expr, wrt=["t0", "t2"])
    value, grads = fg(t0=t0, t2=t2)
    assert value == pytest.approx(np.sum(np.exp(t0)) + t0 @ t0 + t2 @ t0, rel=1e-12)
    np.testing.assert_allclose(grads["t0"], np.exp(t0) + 2 * t0 + t2, rtol=1e-12)
    np.testing.assert_allclose(grads["t2"], t0, rtol=1e-12)
    assert "_t0" in fg.source() or "_t1" in fg.source()  # temporaries have their own names


def test_hessian_named_like_temporaries_and_runtime_names() -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((3, 3))
    for name in ("t0", "t3", "ot"):  # the direction of ot was _dot, the runtime's trace kernel
        expr = f"{name}'*A*{name} + sum(exp({name}))"
        x, v = rng.standard_normal(3), rng.standard_normal(3)
        h = matdiff.hessian(expr, wrt=name)
        want = (A + A.T) @ v + np.exp(x) * v
        np.testing.assert_allclose(h.hvp({name: x, "A": A}, v), want, rtol=1e-12)
        np.testing.assert_allclose(h.evaluate({name: x, "A": A}), A + A.T + np.diag(np.exp(x)), rtol=1e-12)


def test_hessian_of_a_scalar_named_like_the_trace_kernel() -> None:
    rng = np.random.default_rng(4)
    A, X = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    h = matdiff.hessian("tr(A*X)*ot^2", wrt="ot", types={"ot": "scalar"})
    values = {"A": A, "X": X, "ot": 0.7}
    assert float(np.asarray(h.hvp(values, 1.5))) == pytest.approx(2 * np.trace(A @ X) * 1.5, rel=1e-12)


# ----------------------------------------------------------------------------------- 2. keywords
@pytest.mark.parametrize("backend", BACKENDS)
def test_keyword_and_escaped_keyword_names(backend: str) -> None:
    types = {"lambda": "scalar", "lambda_": "scalar", "lambda__": "scalar"}
    expr = "lambda*x'*x + lambda_*sum(x) + lambda__*sum(exp(x))"
    x = np.array([0.1, -0.2, 0.3])
    values = {"x": x, "lambda": 2.0, "lambda_": 3.0, "lambda__": 5.0}
    _check_gradient(expr, "x", values, types=types, backend=backend)
    got = _np(matdiff.grad(expr, wrt="x", types=types).compile(backend=backend)(**values))
    np.testing.assert_allclose(got, 4.0 * x + 3.0 + 5.0 * np.exp(x), rtol=1e-12)


def test_keywords_in_value_and_gradient() -> None:
    types = {"lambda": "scalar", "lambda_": "scalar", "in": "vector", "in_": "vector", "None": "matrix"}
    expr = "lambda*in'*None*in + lambda_*in_'*in"
    rng = np.random.default_rng(5)
    values = {"lambda": 0.5, "lambda_": -1.5, "in": rng.standard_normal(3), "in_": rng.standard_normal(3),
              "None": rng.standard_normal((3, 3))}
    fg = matdiff.compile(expr, wrt=["in", "lambda", "lambda_", "None"], types=types)
    value, grads = fg(**values)
    assert value == pytest.approx(float(matdiff.evaluate(expr, values, types=types)), rel=1e-12)
    for name in ("in", "lambda", "lambda_", "None"):
        np.testing.assert_allclose(grads[name], matdiff.grad(expr, wrt=name, types=types).evaluate(values),
                                   rtol=1e-12)


def test_nan_input_named_as_the_user_wrote_it() -> None:
    r = matdiff.grad("lambda*x'*x", wrt="x", types={"lambda": "scalar"})
    with pytest.raises(matdiff.DomainError, match="lambda has NaN"):
        r.compile()(x=np.ones(2), **{"lambda": float("nan")})


# ------------------------------------------------------------------------ 3. arrays for scalars
BAD_SCALARS = [np.ones((3, 3)), [1.0, 2.0, 3.0], np.array([1.0, 2.0])]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", BAD_SCALARS, ids=["matrix", "list", "vector"])
def test_array_for_a_scalar_refused(backend: str, c: object) -> None:
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="c is a scalar"):
        matdiff.grad("c*x'*x", wrt="x").compile(backend=backend)(c=c, x=x)
    with pytest.raises(ShapeError, match="c is a scalar"):
        matdiff.compile("c*x'*x", wrt=["x"], backend=backend)(c=c, x=x)


@pytest.mark.parametrize("c", BAD_SCALARS, ids=["matrix", "list", "vector"])
def test_array_for_a_scalar_refused_by_hessians(c: object) -> None:
    x = np.array([1.0, 2.0, 3.0])
    h = matdiff.hessian("c*x'*x + sum(exp(x))", wrt="x")
    with pytest.raises(ShapeError, match="c is a scalar"):
        h.evaluate({"c": c, "x": x})
    with pytest.raises(ShapeError, match="c is a scalar"):
        h.hvp({"c": c, "x": x}, x)
    with pytest.raises(ShapeError, match="c is a scalar"):
        matdiff.grad("c*x'*x", wrt="x").evaluate({"c": c, "x": x})


def test_array_for_a_scalar_refused_in_a_batch() -> None:
    x = np.ones((4, 3))
    f = matdiff.compile("c*x'*x", wrt=["x"], batch=True)
    with pytest.raises(ShapeError):
        f(c=np.ones((4, 3)), x=x)
    value, grads = f(c=np.arange(4.0), x=x)  # a batch of scalars is right
    np.testing.assert_allclose(value, 3 * np.arange(4.0))
    np.testing.assert_allclose(grads["x"], 2 * np.arange(4.0)[:, None] * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_entry_array_is_a_scalar(backend: str) -> None:
    x = np.array([1.0, 2.0, 3.0])
    got = _np(matdiff.grad("c*x'*x", wrt="x").compile(backend=backend)(c=np.array([[2.0]]), x=x))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, 4 * x)


# ---------------------------------------------------------------------- 4. integers and booleans
@pytest.mark.parametrize("backend", BACKENDS)
def test_int64_inputs_computed_in_float64(backend: str) -> None:
    x = np.array([3e9, -2e9, 1.5e9]).astype(np.int64)  # x.^3 overflows int64
    r = matdiff.grad("sum(x.^3)", wrt="x")
    want = 3.0 * x.astype(float) ** 2
    np.testing.assert_allclose(r.evaluate({"x": x}), want, rtol=1e-14)
    np.testing.assert_allclose(_np(r.compile(backend=backend)(x=x)), want, rtol=1e-14)
    value, _ = matdiff.compile("sum(x.^3)", wrt=["x"], backend=backend)(x=x)
    assert float(_np(value)) == pytest.approx(np.sum(x.astype(float) ** 3), rel=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_boolean_inputs_computed_in_float64(backend: str) -> None:
    B = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    x = np.array([1, 1, 1], dtype=bool)
    r = matdiff.grad("x'*B*x", wrt="x")
    want = (B.astype(float) + B.T.astype(float)) @ x.astype(float)
    np.testing.assert_allclose(r.evaluate({"x": x, "B": B}), want)
    np.testing.assert_allclose(_np(r.compile(backend=backend)(x=x, B=B)), want)


def test_python_ints_and_int_scalars() -> None:
    r = matdiff.grad("c^3*sum(x)", wrt="c")
    assert r.compile()(c=3, x=np.array([1, 2])) == pytest.approx(3 * 9 * 3)
    assert r.compile()(c=np.int32(3), x=[1, 2]) == pytest.approx(81.0)
    assert r.compile()(c=True, x=[1, 2]) == pytest.approx(9.0)


def test_float32_policy_is_float64_everywhere() -> None:
    """NumPy evaluation and NumPy compiled code compute float32 input in float64 (one rule)."""
    rng = np.random.default_rng(6)
    x32 = rng.standard_normal(3).astype(np.float32)
    A32 = well_conditioned(rng, 3).astype(np.float32)
    for expr, wrt, values in [("x'*x", "x", {"x": x32}), ("logdet(A*A')", "A", {"A": A32}),
                              ("x'*inv(A)*x + det(A)", "A", {"x": x32, "A": A32})]:
        r = matdiff.grad(expr, wrt=wrt)
        ev, comp = np.asarray(r.evaluate(values)), np.asarray(r.compile()(**values))
        assert ev.dtype == np.float64 and comp.dtype == np.float64, expr
        np.testing.assert_allclose(comp, ev, rtol=1e-12)
        value = matdiff.evaluate(expr, values)
        fvalue, _ = matdiff.compile(expr, wrt=[wrt])(**values)
        assert type(value) is type(fvalue) is float, expr
        assert fvalue == pytest.approx(value, rel=1e-12)


def test_complex64_computed_in_complex128() -> None:
    x = (np.array([1.0, 2.0]) + 1e-3j).astype(np.complex64)
    r = matdiff.grad("sum(exp(x))", wrt="x")
    got = r.compile()(x=x)
    assert got.dtype == np.complex128
    np.testing.assert_allclose(got, np.exp(x.astype(np.complex128)), rtol=1e-14)
