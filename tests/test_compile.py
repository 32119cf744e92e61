"""matdiff.compile: value and gradients in one generated function (fAndG / value_and_grad)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import (
    away_from_zero,
    directional_derivative,
    positive_det,
    random_direction,
    spd,
    well_conditioned,
)


def _cases(rng):
    n = 4
    return [
        ("x'*A*y", ["A"], None,
         {"x": rng.standard_normal(3), "A": rng.standard_normal((3, 5)), "y": rng.standard_normal(5)}),
        ("x'*A*y", ["x", "A", "y"], None,
         {"x": rng.standard_normal(3), "A": rng.standard_normal((3, 5)), "y": rng.standard_normal(5)}),
        ("logdet(S) + tr(inv(S)*C)", ["S"], {"S": "spd"}, {"S": spd(rng, n), "C": spd(rng, n)}),
        ("logdet(S) + tr(inv(S)*C)", ["S", "C"], {"S": "spd"}, {"S": spd(rng, n), "C": spd(rng, n)}),
        ("norm_fro(A*X-B)^2", ["X", "A"], None,
         {"A": rng.standard_normal((6, n)), "X": rng.standard_normal((n, 2)), "B": rng.standard_normal((6, 2))}),
        ("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", ["w", "c"], None,
         {"X": rng.standard_normal((9, n)), "y": rng.choice([-1.0, 1.0], 9), "w": rng.standard_normal(n),
          "c": 0.2}),
        ("x'*inv(A)*x", ["A", "x"], None, {"A": well_conditioned(rng, n), "x": rng.standard_normal(n)}),
        ("det(X)", ["X"], None, {"X": well_conditioned(rng, n)}),
        ("logdet(X) - tr(X'*X)", ["X"], None, {"X": positive_det(rng, n)}),
        ("log(sum(exp(x))) + a*norm2(x)", ["x", "a"], None, {"x": rng.standard_normal(n), "a": 0.3}),
        ("tr(X'*A*X*B)", ["X", "A", "B"], None,
         {"X": rng.standard_normal((n, 3)), "A": rng.standard_normal((n, n)), "B": rng.standard_normal((3, 3))}),
        ("norm1(X) + norm_nuc(X)", ["X"], None, {"X": away_from_zero(rng, (3, 3)) + 3 * np.diag([3.0, 2.0, 1.0])}),
    ]


IDS = ["x'Ay wrt A", "x'Ay wrt x,A,y", "gaussian", "gaussian wrt S,C", "least squares", "logistic",
       "x'inv(A)x", "det", "logdet - tr(X'X)", "lse + a norm2", "tr(X'AXB) wrt 3", "norm1+norm_nuc"]


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_value_and_gradients(i):
    rng = np.random.default_rng(900 + i)
    expr, wrt, types, values = _cases(rng)[i]
    fg = matdiff.compile(expr, wrt=wrt, types=types)
    value, grads = fg(**values)
    assert np.ndim(value) == 0
    assert float(value) == pytest.approx(float(matdiff.evaluate(expr, values, types)), rel=1e-11, abs=1e-13)
    assert isinstance(grads, dict) and list(grads) == wrt
    for name in wrt:
        want = matdiff.grad(expr, wrt=name, types=types).evaluate(values)
        assert np.shape(grads[name]) == np.shape(values[name]), name
        np.testing.assert_allclose(grads[name], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_gradients_numerically(i):
    """<grad, V> against central differences + Richardson of matdiff.evaluate, at the same point."""
    rng = np.random.default_rng(950 + i)
    expr, wrt, types, values = _cases(rng)[i]
    _, grads = matdiff.compile(expr, wrt=wrt, types=types)(**values)
    for name in wrt:
        sym = (types or {}).get(name) in ("spd", "symmetric")
        V = random_direction(rng, values[name], sym=sym)
        num = directional_derivative(expr, values, name, V, types)
        got = float(np.sum(np.asarray(grads[name]) * V))
        assert got == pytest.approx(num, rel=1e-6, abs=1e-8), f"grad_{name}"


def test_repeated_calls_give_fresh_results(rng):
    fg = matdiff.compile("x'*A*x", wrt=["x"])
    A = rng.standard_normal((3, 3))
    v1, g1 = fg(x=np.ones(3), A=A)
    v2, g2 = fg(x=2 * np.ones(3), A=A)
    assert v2 == pytest.approx(4 * v1)
    np.testing.assert_allclose(g2["x"], 2 * g1["x"])


def test_wrt_a_single_name():
    fg = matdiff.compile("x'*x", wrt="x")
    value, grads = fg(x=np.array([1.0, 2.0]))
    assert value == pytest.approx(5.0)
    np.testing.assert_allclose(grads["x"], [2.0, 4.0])


def test_source_and_repr():
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"})
    src = fg.source()
    assert "def value_and_grad(" in src
    compile(src, "<fg>", "exec")
    assert "logdet" in repr(fg)


# ------------------------------------------------------------------------------ errors


def test_missing_value_is_a_matdiff_error(rng):
    fg = matdiff.compile("x'*A*y", wrt=["x"])
    with pytest.raises(matdiff.MatdiffError, match="y"):
        fg(x=np.ones(3), A=np.ones((3, 4)))


def test_wrong_shapes_name_the_variable():
    fg = matdiff.compile("x'*A*y", wrt=["x"])
    with pytest.raises(matdiff.ShapeError, match=r"\by\b"):
        fg(x=np.ones(3), A=np.ones((3, 4)), y=np.ones(5))
    with pytest.raises(matdiff.ShapeError, match=r"\bA\b"):
        fg(x=np.ones(2), A=np.ones((3, 4)), y=np.ones(4))
    with pytest.raises(matdiff.ShapeError, match=r"\bA\b"):
        fg(x=np.ones(3), A=np.ones((3, 4, 1)), y=np.ones(4))


def test_wrong_shapes_of_a_square_matrix():
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"})
    with pytest.raises(matdiff.ShapeError, match=r"\b[SC]\b"):
        fg(S=np.eye(3), C=np.eye(4))
    with pytest.raises(matdiff.ShapeError, match=r"\bS\b"):
        fg(S=np.ones((3, 4)), C=np.eye(3))


def test_not_spd_is_a_domain_error():
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"})
    with pytest.raises(matdiff.DomainError):
        fg(S=-np.eye(3), C=np.eye(3))


def test_shape_errors_are_matdiff_errors():
    assert issubclass(matdiff.ShapeError, matdiff.MatdiffError)
    assert issubclass(matdiff.MatdiffError, ValueError)


def test_vectors_given_as_columns(rng):
    A, x, y = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(4)
    fg = matdiff.compile("x'*A*y", wrt=["x", "A", "y"])
    v1, g1 = fg(x=x, A=A, y=y)
    v2, g2 = fg(x=x.reshape(-1, 1), A=A, y=y.reshape(-1, 1))
    assert v2 == pytest.approx(v1, rel=1e-14)
    for k in g1:
        np.testing.assert_allclose(np.reshape(g2[k], np.shape(g1[k])), g1[k], rtol=1e-14)
    np.testing.assert_allclose(g1["A"], np.outer(x, y), rtol=1e-14)


def test_python_scalars(rng):
    fg = matdiff.compile("a*x'*A*x", wrt=["x", "a"])
    A = rng.standard_normal((3, 3))
    x = np.array([1.0, 2.0, 3.0])
    value, grads = fg(x=x, A=A, a=2)
    assert value == pytest.approx(2 * x @ A @ x, rel=1e-14)
    np.testing.assert_allclose(grads["x"], 2 * (A + A.T) @ x, rtol=1e-14)
    assert float(grads["a"]) == pytest.approx(x @ A @ x, rel=1e-14)


def test_lists_and_python_scalars(rng):
    fg = matdiff.compile("a*x'*x", wrt=["x", "a"])
    value, grads = fg(x=[1.0, 2.0, 3.0], a=2)
    assert value == pytest.approx(28.0)
    np.testing.assert_allclose(grads["x"], [4.0, 8.0, 12.0])
    assert float(grads["a"]) == pytest.approx(14.0)


def test_compile_needs_a_scalar_expression():
    with pytest.raises(matdiff.ShapeError):
        matdiff.compile("A*x", wrt=["x"])


def test_compile_unknown_variable():
    with pytest.raises(matdiff.MatdiffError):
        matdiff.compile("x'*x", wrt=["y"])


# regression: matdiff.compile('sum(x)', wrt=['x']) raised ShapeError (ones/eye sized by a re-typed expression)
@pytest.mark.parametrize("expr, wrt", [("sum(x)", ["x"]), ("tr(X)", ["X"]), ("x'*x + a*sum(x)", ["x", "a"]),
                                       ("sum(A*X)", ["X"])])
def test_gradient_with_ones_or_identity(expr, wrt):
    vals = {"x": np.arange(1.0, 4.0), "a": 2.0, "X": np.diag([1.0, 2.0, 3.0]), "A": np.ones((2, 3))}
    vals = {k: v for k, v in vals.items() if k in expr}
    value, grads = matdiff.compile(expr, wrt=wrt)(**vals)
    for name in wrt:
        np.testing.assert_allclose(grads[name], matdiff.grad(expr, wrt=name).evaluate(vals), rtol=1e-14)
