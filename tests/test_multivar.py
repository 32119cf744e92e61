"""Gradients with respect to several variables at once: each one checked numerically, compiled == evaluated,
generated code shares its work (one factorization per matrix)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff
from conftest import check_gradient, positive_det, spd, well_conditioned


def _logistic(rng, m=10, n=3):
    return {"X": rng.standard_normal((m, n)), "y": rng.choice([-1.0, 1.0], m), "w": rng.standard_normal(n),
            "c": 0.4}


def _cases(rng):
    n = 4
    return [
        ("x'*inv(A)*x + logdet(A)", ["A", "x"], None, {"A": positive_det(rng, n), "x": rng.standard_normal(n)}),
        ("x'*A*y", ["x", "A", "y"], None,
         {"x": rng.standard_normal(3), "A": rng.standard_normal((3, 5)), "y": rng.standard_normal(5)}),
        ("norm_fro(A*X-B)^2", ["A", "X", "B"], None,
         {"A": rng.standard_normal((5, n)), "X": rng.standard_normal((n, 3)), "B": rng.standard_normal((5, 3))}),
        ("logdet(S) + tr(inv(S)*C) + x'*inv(S)*x", ["S", "x", "C"], {"S": "spd"},
         {"S": spd(rng, n), "C": spd(rng, n), "x": rng.standard_normal(n)}),
        ("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", ["w", "c", "X"], None, _logistic(rng)),
        ("tr(A*X*B) + a*norm_fro(X)^2", ["X", "A", "B", "a"], None,
         {"A": rng.standard_normal((3, n)), "X": rng.standard_normal((n, 5)), "B": rng.standard_normal((5, 3)),
          "a": 0.8}),
        ("det(A)*b + sum(exp(A*x))", ["A", "x", "b"], None,
         {"A": 0.5 * well_conditioned(rng, 3), "x": rng.standard_normal(3), "b": -1.2}),
        ("tr(inv(A)*B)", ["A", "B"], None, {"A": well_conditioned(rng, n), "B": rng.standard_normal((n, n))}),
    ]


IDS = ["x'inv(A)x+logdet", "x'Ay", "least squares", "gaussian spd", "logistic", "tr(AXB)+a|X|^2",
       "det*b+sum exp", "tr(inv(A)B)"]


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_each_gradient_numerically(i):
    rng = np.random.default_rng(500 + i)
    expr, wrt, types, values = _cases(rng)[i]
    m = matdiff.grad(expr, wrt=wrt, types=types)
    assert isinstance(m, matdiff.MultiGradient)
    assert list(m.gradient) == wrt
    for name in wrt:
        assert isinstance(m[name], matdiff.GradientResult)
        # the numerical check (evaluate and compile of the single gradient)
        g = check_gradient(expr, name, values, types, rng=rng)
        # the MultiGradient's own result for that name is the same gradient
        np.testing.assert_allclose(m[name].evaluate(values), g, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_compiled_dict_equals_each_evaluate(i):
    rng = np.random.default_rng(600 + i)
    expr, wrt, types, values = _cases(rng)[i]
    m = matdiff.grad(expr, wrt=wrt, types=types)
    got = m.compile()(**values)
    assert isinstance(got, dict) and list(got) == wrt
    for name in wrt:
        want = m[name].evaluate(values)
        assert np.shape(got[name]) == np.shape(values[name])
        np.testing.assert_allclose(got[name], want, rtol=1e-10, atol=1e-12)


def test_evaluate_dict_with_scalar_second_variable(rng):
    vals = {"y": rng.standard_normal(4), "b": 0.6}
    m = matdiff.grad("b*sum(exp(y))", wrt=["y", "b"])
    got = m.evaluate(vals)
    np.testing.assert_allclose(got["y"], 0.6 * np.exp(vals["y"]), rtol=1e-14)
    assert got["b"] == pytest.approx(float(np.sum(np.exp(vals["y"]))), rel=1e-14)


# regression: MultiGradient.evaluate raised ShapeError ('the size len(y) is not determined ...') for every array
# variable after the first in wrt (each name was re-typed with new sizes)
@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_evaluate_dict_equals_compiled(i):
    rng = np.random.default_rng(700 + i)
    expr, wrt, types, values = _cases(rng)[i]
    m = matdiff.grad(expr, wrt=wrt, types=types)
    got = m.evaluate(values)
    ref = m.compile()(**values)
    for name in wrt:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-10, atol=1e-12)


def test_evaluate_dict_minimal():
    g = matdiff.grad("x'*y", wrt=["x", "y"])
    out = g.evaluate({"x": np.ones(3), "y": np.arange(3.0)})
    np.testing.assert_array_equal(out["x"], np.arange(3.0))
    np.testing.assert_array_equal(out["y"], np.ones(3))


# ------------------------------------------------------------------------------ shared work


def _count(src: str, pat: str) -> int:
    return len(re.findall(re.escape(pat), src))


def test_one_lu_for_a_shared_matrix():
    src = matdiff.grad("x'*inv(A)*x + logdet(A)", wrt=["A", "x"]).source()
    assert _count(src, "_F.lu(") == 1, src
    assert _count(src, "_F.chol(") == 0, src
    compile(src, "<gradients>", "exec")


def test_one_cholesky_for_a_shared_spd_matrix():
    src = matdiff.grad("logdet(S) + tr(inv(S)*C) + x'*inv(S)*x", wrt=["S", "x", "C"], types={"S": "spd"}).source()
    assert _count(src, "_F.chol(") == 1, src
    assert _count(src, "_F.lu(") == 0, src


def test_residual_computed_once_for_all_gradients():
    src = matdiff.grad("norm_fro(A*X-B)^2", wrt=["A", "X", "B"]).source()
    assert _count(src, "A @ X") == 1, src


def test_logistic_margins_computed_once():
    src = matdiff.grad("sum(log(1+exp(-y.*(X*w)))) + c*w'*w", wrt=["w", "c", "X"]).source()
    assert _count(src, "X @ w") == 1, src
    assert _count(src, "_expit(") == 1, src


def test_each_solve_computed_once():
    src = matdiff.grad("x'*inv(A)*x + logdet(A)", wrt=["A", "x"]).source()
    assert _count(src, "_F.solve(_t0, x") == 1, src


def test_source_is_one_function_named_gradients_with_docstring():
    src = matdiff.grad("x'*A*y", wrt=["x", "y"]).source()
    assert src.count("def ") == 1 and "def gradients(" in src
    assert '"""' in src and "x, y" in src


def test_getitem_and_str():
    m = matdiff.grad("x'*A*y", wrt=["A", "x"])
    assert "".join(str(m["A"].gradient).split()) == "x*y'"
    assert "grad_A" in str(m) and "grad_x" in str(m)


def test_wrt_list_errors():
    with pytest.raises(matdiff.MatdiffError):
        matdiff.grad("x'*A*y", wrt=["x", "x"])
    with pytest.raises(matdiff.MatdiffError):
        matdiff.grad("x'*A*y", wrt=[])
    with pytest.raises(matdiff.MatdiffError):
        matdiff.grad("x'*A*y", wrt=["x", "z"])
