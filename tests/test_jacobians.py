"""Derivatives of vector- and matrix-valued expressions: jvp, vjp, the dense Jacobian, Kronecker forms.

Every jvp is compared with central differences (one Richardson step) of ``matdiff.evaluate`` of the
original expression along random directions; the vjp by the adjoint identity <C, J V> = <J' C, V>;
the dense Jacobian by J vec(V) = vec(jvp(V)) in the column-major vec convention.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff
from conftest import central_richardson, spd, symmetric, well_conditioned

N = 4


def _values(rng: np.random.Generator, n: int = N) -> dict[str, np.ndarray]:
    return {
        "X": well_conditioned(rng, n),
        "A": well_conditioned(rng, n),
        "B": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "S": spd(rng, n),
        "y": rng.standard_normal(n + 1),
    }


# (expression, wrt, types); the values come from _values (y is one longer than x: x*y' is not square)
CASES = [
    ("X*A*X", "X", None),
    ("inv(A*X)", "X", None),
    ("sin(X).*A", "X", None),
    ("diag(A*x)", "x", None),
    ("x*y'", "x", None),
    ("x*y'", "y", None),
    ("A*X*B", "X", None),
    ("X'", "X", None),
    ("X.*X", "X", None),
    ("exp(X)*B", "X", None),
    ("inv(X)'", "X", None),
    ("A*x", "x", None),
    ("exp(A*x) + x", "x", None),
    ("X*A*X'", "X", None),
    ("tanh(X)*X", "X", None),
    ("X*X*X", "X", None),
    ("inv(X)*B*X", "X", None),
    ("x*x'", "x", None),
    ("X*A*X", "X", {"X": "symmetric"}),
    ("inv(S)", "S", {"S": "spd"}),
    ("S*B*S", "S", {"S": "spd"}),
]
IDS = [f"{e} wrt {w}" + (f" {t[w]}" if t else "") for e, w, t in CASES]


def _point(rng, expr, wrt, types):
    v = _values(rng)
    kind = (types or {}).get(wrt)
    if kind == "symmetric":
        v[wrt] = symmetric(rng, N)
    elif kind == "spd":
        v[wrt] = spd(rng, N)
    return {k: val for k, val in v.items() if re.search(rf"\b{k}\b", expr)}


def _direction(rng, value, types, wrt):
    d = rng.standard_normal(np.shape(value))
    if (types or {}).get(wrt) in ("symmetric", "spd"):
        d = (d + d.T) / 2
    return d


def numeric_jvp(expr, values, wrt, direction, types=None, h=1e-3):
    """d/dt F(values with wrt + t*direction) at t = 0 by central differences + Richardson."""
    x0 = np.asarray(values[wrt], dtype=float)

    def f(t):
        v = dict(values)
        v[wrt] = x0 + t * direction
        return np.asarray(matdiff.evaluate(expr, v, types), dtype=float)

    return central_richardson(f, h)


def _close(got, want, rtol=1e-7):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want))))
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert err <= rtol * scale, f"max |diff| {err:.3g} > {rtol * scale:.3g}\ngot\n{got}\nwant\n{want}"


@pytest.mark.parametrize("expr, wrt, types", CASES, ids=IDS)
def test_jvp_matches_finite_differences(rng, expr, wrt, types):
    values = _point(rng, expr, wrt, types)
    d = matdiff.derivative(expr, wrt, types)
    for _ in range(3):
        V = _direction(rng, values[wrt], types, wrt)
        got = d.jvp(values, V)
        F = np.asarray(matdiff.evaluate(expr, values, types))
        assert np.shape(got) == F.shape, f"jvp of {expr} has shape {np.shape(got)}, F has {F.shape}"
        _close(got, numeric_jvp(expr, values, wrt, V, types))


@pytest.mark.parametrize("expr, wrt, types", CASES, ids=IDS)
def test_adjoint_identity(rng, expr, wrt, types):
    """<C, jvp(V)> = <vjp(C), V> for random C and V; vjp shaped like the variable."""
    values = _point(rng, expr, wrt, types)
    d = matdiff.derivative(expr, wrt, types)
    F = np.asarray(matdiff.evaluate(expr, values, types))
    for _ in range(3):
        V = _direction(rng, values[wrt], types, wrt)
        C = rng.standard_normal(F.shape)
        M = d.vjp(values, C)
        assert np.shape(M) == np.shape(values[wrt])
        lhs = float(np.sum(C * d.jvp(values, V)))
        rhs = float(np.sum(np.asarray(M) * V))
        assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs), float(np.linalg.norm(C) * np.linalg.norm(V))), (
            f"<C, jvp(V)> = {lhs} but <vjp(C), V> = {rhs}; vjp = {d.vjp_expr}")


@pytest.mark.parametrize("expr, wrt, types", CASES, ids=IDS)
def test_dense_jacobian_column_major(rng, expr, wrt, types):
    values = _point(rng, expr, wrt, types)
    d = matdiff.derivative(expr, wrt, types)
    J = d.jacobian(values)
    F = np.asarray(matdiff.evaluate(expr, values, types))
    x = np.asarray(values[wrt])
    assert J.shape == (F.size, x.size)
    for _ in range(2):
        V = _direction(rng, x, types, wrt)
        jv = J @ np.ravel(V, order="F")
        _close(jv, np.ravel(np.asarray(d.jvp(values, V)), order="F"), rtol=1e-12)
    # and against finite differences directly, for a general (not necessarily structured) direction
    V = _direction(rng, x, types, wrt)
    _close(J @ np.ravel(V, order="F"), np.ravel(numeric_jvp(expr, values, wrt, V, types), order="F"))


def test_jacobian_of_matrix_product_is_kronecker(rng):
    """d vec(A X B) / d vec(X) = B' ⊗ A exactly."""
    A, B, X = rng.standard_normal((3, 4)), rng.standard_normal((5, 2)), rng.standard_normal((4, 5))
    J = matdiff.derivative("A*X*B", "X").jacobian({"A": A, "B": B, "X": X})
    np.testing.assert_allclose(J, np.kron(B.T, A), rtol=1e-13, atol=1e-14)


def test_jacobian_of_transpose_is_commutation_matrix(rng):
    m, n = 3, 4
    X = rng.standard_normal((m, n))
    J = matdiff.derivative("X'", "X").jacobian({"X": X})
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0  # vec(X')[j + i*n] = vec(X)[i + j*m]
    np.testing.assert_array_equal(J, K)


def test_jacobian_of_rectangular_expression(rng):
    """x*y' with x of length 4, y of length 5: (20, 4) Jacobian equal to y ⊗ I."""
    x, y = rng.standard_normal(4), rng.standard_normal(5)
    J = matdiff.derivative("x*y'", "x").jacobian({"x": x, "y": y})
    np.testing.assert_allclose(J, np.kron(y.reshape(-1, 1), np.eye(4)), rtol=1e-14)


# ------------------------------------------------------------------------------ Kronecker forms


def test_kronecker_text_of_AXB():
    d = matdiff.derivative("A*X*B", "X")
    assert d.kronecker is not None
    text, latex = d.kronecker
    assert "".join(text.split()) == "(B'⊗A)vec(dX)", text
    assert r"\otimes" in latex and "B^{\\top}" in latex


def test_kronecker_text_of_transpose_uses_commutation_matrix():
    text, _ = matdiff.derivative("X'", "X").kronecker
    assert "K" in text and "vec(dX)" in text


def test_kronecker_form_shown_in_steps():
    d = matdiff.derivative("A*X*B", "X")
    shown = "\n".join(str(s) for s in d.steps)
    assert "⊗" in shown
    assert any("adjoint" in str(s) or "vjp" in str(s) for s in d.steps)


def test_kronecker_form_absent_where_not_expressible():
    # a Hadamard product times a matrix is not a single sum of Kronecker terms
    assert matdiff.derivative("exp(X)*B", "X").kronecker is None


def test_kronecker_text_parenthesizes_sums():
    text, _ = matdiff.derivative("(A+B)*X*(C-D)", "X").kronecker
    assert "".join(text.split()) == "((C'-D')⊗(A+B))vec(dX)", text


def test_kronecker_latex_parenthesizes_sums():
    _, latex = matdiff.derivative("(A+B)*X*(C-D)", "X").kronecker
    assert r"\otimes A + B" not in latex and r"D^{\top} \otimes" not in latex, latex


# ------------------------------------------------------------------------------ structured variables


def test_symmetric_variable_vjp_is_symmetric(rng):
    X = symmetric(rng, N)
    A = rng.standard_normal((N, N))
    d = matdiff.derivative("X*A*X", "X", {"X": "symmetric"})
    C = rng.standard_normal((N, N))
    M = d.vjp({"X": X, "A": A}, C)
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-13)
    # and it is the symmetric part of the unconstrained vjp
    M0 = matdiff.derivative("X*A*X", "X").vjp({"X": X, "A": A}, C)
    np.testing.assert_allclose(M, (M0 + M0.T) / 2, rtol=1e-12, atol=1e-13)


def test_spd_variable_vjp_is_symmetric(rng):
    S = spd(rng, N)
    B = rng.standard_normal((N, N))
    d = matdiff.derivative("S*B*inv(S)", "S", {"S": "spd"})
    M = d.vjp({"S": S, "B": B}, rng.standard_normal((N, N)))
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-12)


def test_diagonal_variable_vjp_is_diagonal(rng):
    X = np.diag(rng.standard_normal(N))
    A = rng.standard_normal((N, N))
    d = matdiff.derivative("X*A*X", "X", {"X": "diagonal"})
    M = d.vjp({"X": X, "A": A}, rng.standard_normal((N, N)))
    np.testing.assert_array_equal(M, np.diag(np.diag(M)))


def test_diagonal_variable_adjoint_identity(rng):
    X = np.diag(rng.standard_normal(N))
    A = rng.standard_normal((N, N))
    d = matdiff.derivative("X*A*X", "X", {"X": "diagonal"})
    C = rng.standard_normal((N, N))
    V = np.diag(rng.standard_normal(N))
    lhs = float(np.sum(C * d.jvp({"X": X, "A": A}, V)))
    rhs = float(np.sum(d.vjp({"X": X, "A": A}, C) * V))
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


# ------------------------------------------------------------------------------ scalar variables and outputs


def test_scalar_variable_matrix_output(rng):
    X = rng.standard_normal((3, 3))
    d = matdiff.derivative("exp(a*X)", "a")
    vals = {"a": 0.7, "X": X}
    got = d.jvp(vals, 1.0)
    want = numeric_jvp("exp(a*X)", vals, "a", 1.0)
    _close(got, want)
    assert d.jacobian(vals).shape == (9, 1)
    C = rng.standard_normal((3, 3))
    assert abs(float(d.vjp(vals, C)) - float(np.sum(C * got))) < 1e-12 * max(1.0, float(np.abs(C).sum()))


def test_vjp_expr_is_an_expression_of_the_cotangent():
    d = matdiff.derivative("A*X*B", "X")
    text = str(d.vjp_expr)
    assert "A'" in text and "B'" in text


def test_derivative_of_unknown_variable_raises():
    with pytest.raises(matdiff.MatdiffError):
        matdiff.derivative("A*X", "Y")


# ------------------------------------------------------------------------------ row-vector outputs


def test_row_vector_output_jvp_and_jacobian(rng):
    A, x = rng.standard_normal((N, N)), rng.standard_normal(N)
    d = matdiff.derivative("x'*A", "x")
    vals = {"x": x, "A": A}
    V = rng.standard_normal(N)
    got = d.jvp(vals, V)
    F = np.asarray(matdiff.evaluate("x'*A", vals))
    assert np.shape(got) == F.shape
    _close(got, numeric_jvp("x'*A", vals, "x", V))
    np.testing.assert_allclose(d.jacobian(vals), A.T, rtol=1e-14)


def test_row_vector_output_vjp_takes_cotangent_shaped_like_F(rng):
    A, x = rng.standard_normal((N, N)), rng.standard_normal(N)
    d = matdiff.derivative("x'*A", "x")
    vals = {"x": x, "A": A}
    C = rng.standard_normal(np.shape(matdiff.evaluate("x'*A", vals)))
    np.testing.assert_allclose(d.vjp(vals, C), A @ np.ravel(C), rtol=1e-13)
