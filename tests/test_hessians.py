"""Hessians by the second differential: hvp, the dense Hessian, symbolic forms, several variables.

hvp is checked against central differences (+ Richardson) of the gradient, and <V, H V> against a
second difference of ``matdiff.evaluate`` of the function itself; symbolic Hessians against closed
forms computed by hand with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import matdiff
from conftest import central_richardson, positive, spd, symmetric, well_conditioned

N = 4


def numeric_hvp(expr, wrt, values, V, types=None, h=1e-3):
    """d/dt grad f(x + tV) at t = 0 by central differences + Richardson of the gradient."""
    r = matdiff.grad(expr, wrt, types)
    x0 = np.asarray(values[wrt], dtype=float)

    def g(t):
        v = dict(values)
        p = x0 + t * V
        v[wrt] = float(p) if p.ndim == 0 else p
        return np.asarray(r.evaluate(v), dtype=float)

    return central_richardson(g, h)


def second_difference(expr, wrt, values, V, types=None, h=1e-2):
    """d²/dt² f(x + tV) at t = 0 from values of f only: second differences + one Richardson step."""
    x0 = np.asarray(values[wrt], dtype=float)

    def f(t):
        v = dict(values)
        p = x0 + t * V
        v[wrt] = float(p) if p.ndim == 0 else p
        return float(matdiff.evaluate(expr, v, types))

    f0 = f(0.0)
    d1 = (f(h) - 2 * f0 + f(-h)) / h**2
    d2 = (f(h / 2) - 2 * f0 + f(-h / 2)) / (h / 2) ** 2
    return (4 * d2 - d1) / 3


def _close(got, want, rtol=1e-6):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 0.0)
    assert err <= rtol * scale, f"max |diff| {err:.3g} > {rtol * scale:.3g}\ngot\n{got}\nwant\n{want}"


def _logistic_point(rng, m=12, n=N, labels=True):
    X = rng.standard_normal((m, n))
    y = rng.choice([-1.0, 1.0], m) if labels else rng.standard_normal(m)
    return {"X": X, "y": y, "w": 0.5 * rng.standard_normal(n), "c": 0.3}


LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


def _cases(rng):
    S = spd(rng, N)
    return [
        ("x'*A*x", "x", None, {"x": rng.standard_normal(N), "A": rng.standard_normal((N, N))}),
        ("x'*A*x + log(sum(exp(x)))", "x", None, {"x": rng.standard_normal(N), "A": rng.standard_normal((N, N))}),
        (LOGISTIC, "w", None, _logistic_point(rng)),
        ("norm2(x)", "x", None, {"x": rng.standard_normal(N)}),
        ("sum(exp(A*x))", "x", None, {"x": 0.5 * rng.standard_normal(N), "A": rng.standard_normal((N, N))}),
        ("x'*inv(A)*x", "x", None, {"x": rng.standard_normal(N), "A": well_conditioned(rng, N)}),
        ("sum(log(x))", "x", None, {"x": positive(rng, N)}),
        ("a^3*b + sin(a)", "a", None, {"a": 0.7, "b": 1.3}),
        ("tr(X'*A*X)", "X", None, {"X": rng.standard_normal((N, 3)), "A": rng.standard_normal((N, N))}),
        ("norm_fro(A*X-B)^2", "X", None,
         {"X": rng.standard_normal((N, 3)), "A": rng.standard_normal((5, N)), "B": rng.standard_normal((5, 3))}),
        ("logdet(X)", "X", None, {"X": S}),
        ("tr(inv(X)*B)", "X", None, {"X": well_conditioned(rng, N), "B": rng.standard_normal((N, N))}),
        ("det(X)", "X", None, {"X": well_conditioned(rng, 3)}),
        ("sum(sin(X).*A)", "X", None, {"X": rng.standard_normal((3, 2)), "A": rng.standard_normal((3, 2))}),
        ("tr(inv(S))", "S", {"S": "spd"}, {"S": S}),
        ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}, {"S": S, "C": spd(rng, N)}),
        ("tr(S*A*S*B)", "S", {"S": "symmetric"},
         {"S": symmetric(rng, N), "A": rng.standard_normal((N, N)), "B": rng.standard_normal((N, N))}),
    ]


CASE_IDS = [
    "x'Ax", "x'Ax+lse", "logistic", "norm2", "sum exp(Ax)", "x'inv(A)x", "sum log x", "scalar a",
    "tr(X'AX)", "least squares", "logdet", "tr(inv(X)B)", "det", "sum sin(X).*A", "tr inv(S) spd",
    "gaussian nll spd", "tr(SASB) symmetric",
]


def _direction(rng, x, types, wrt):
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        return float(rng.standard_normal())
    d = rng.standard_normal(x.shape)
    if (types or {}).get(wrt) in ("symmetric", "spd"):
        d = (d + d.T) / 2
    return d


@pytest.mark.parametrize("i", range(len(CASE_IDS)), ids=CASE_IDS)
def test_hvp_matches_differences_of_the_gradient(i):
    rng = np.random.default_rng(100 + i)
    expr, wrt, types, values = _cases(rng)[i]
    h = matdiff.hessian(expr, wrt, types)
    for _ in range(2):
        V = _direction(rng, values[wrt], types, wrt)
        got = h.hvp(values, V)
        assert np.shape(got) == np.shape(values[wrt])
        _close(got, numeric_hvp(expr, wrt, values, V, types))


@pytest.mark.parametrize("i", range(len(CASE_IDS)), ids=CASE_IDS)
def test_quadratic_form_matches_second_difference_of_f(i):
    """<V, H V> = d²/dt² f(x + tV), from values of f alone (independent of matdiff's gradient)."""
    rng = np.random.default_rng(200 + i)
    expr, wrt, types, values = _cases(rng)[i]
    h = matdiff.hessian(expr, wrt, types)
    V = _direction(rng, values[wrt], types, wrt)
    got = float(np.sum(np.asarray(h.hvp(values, V)) * V))
    want = second_difference(expr, wrt, values, V, types)
    assert abs(got - want) <= 1e-5 * max(1.0, abs(want)), f"<V, H V> = {got}, second difference {want}"


@pytest.mark.parametrize("i", range(len(CASE_IDS)), ids=CASE_IDS)
def test_dense_hessian_symmetric_and_matches_hvp(i):
    rng = np.random.default_rng(300 + i)
    expr, wrt, types, values = _cases(rng)[i]
    h = matdiff.hessian(expr, wrt, types)
    H = h.evaluate(values)
    x = np.asarray(values[wrt], dtype=float)
    if x.ndim == 0:
        assert isinstance(H, float)
        _close(H, h.hvp(values, 1.0), rtol=1e-12)
        return
    assert H.shape == (x.size, x.size)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-10 * max(1.0, np.abs(H).max()))
    for _ in range(2):
        V = _direction(rng, x, types, wrt)
        _close(H @ np.ravel(V, order="F"), np.ravel(h.hvp(values, V), order="F"), rtol=1e-11)


@pytest.mark.parametrize("i", range(len(CASE_IDS)), ids=CASE_IDS)
def test_compiled_hessian_equals_evaluate(i):
    rng = np.random.default_rng(400 + i)
    expr, wrt, types, values = _cases(rng)[i]
    h = matdiff.hessian(expr, wrt, types)
    H = h.evaluate(values)
    Hc = h.compile()(**values)
    np.testing.assert_allclose(Hc, H, rtol=1e-10, atol=1e-12)
    src = h.source()
    compile(src, "<hessian>", "exec")
    assert '"""' in src


# ------------------------------------------------------------------------------ symbolic forms


def test_quadratic_form_symbolic_hessian(rng):
    h = matdiff.hessian("x'*A*x", "x")
    assert h.expr is not None
    assert "".join(str(h.expr).split()) in ("A+A'", "A'+A"), str(h.expr)
    A = rng.standard_normal((N, N))
    np.testing.assert_allclose(h.evaluate({"x": rng.standard_normal(N), "A": A}), A + A.T, rtol=1e-14)


def test_hessian_expr_reparses_and_evaluates_to_the_same(rng):
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", "x")
    vals = {"x": rng.standard_normal(N), "A": rng.standard_normal((N, N))}
    again = matdiff.evaluate(str(h.expr), vals)
    np.testing.assert_allclose(again, h.evaluate(vals), rtol=1e-12, atol=1e-14)


def test_logsumexp_plus_quadratic_closed_form(rng):
    h = matdiff.hessian("x'*A*x + log(sum(exp(x)))", "x")
    x, A = rng.standard_normal(N), rng.standard_normal((N, N))
    p = np.exp(x - x.max())
    p /= p.sum()
    want = A + A.T + np.diag(p) - np.outer(p, p)
    vals = {"x": x, "A": A}
    np.testing.assert_allclose(h.evaluate(vals), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.compile()(**vals), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("labels", [True, False], ids=["y=±1", "y real"])
def test_logistic_hessian_closed_form(rng, labels):
    """f = sum(log(1 + exp(-m))) + c w'w with m = y.*(X w): with s = sigmoid(-m),
    df/dm = -s, d²f/dm² = s (1 - s), so H = X' diag(y² s (1 - s)) X + 2c I (y² = 1 for labels)."""
    vals = _logistic_point(rng, labels=labels)
    X, y, w, c = vals["X"], vals["y"], vals["w"], vals["c"]
    s = expit(-y * (X @ w))
    want = X.T @ np.diag(y**2 * s * (1 - s)) @ X + 2 * c * np.eye(X.shape[1])
    h = matdiff.hessian(LOGISTIC, "w")
    assert h.expr is not None
    np.testing.assert_allclose(h.evaluate(vals), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.compile()(**vals), want, rtol=1e-12, atol=1e-14)


def test_logistic_hessian_finite_at_huge_margins(rng):
    vals = _logistic_point(rng, m=40, labels=True)
    vals["w"] = vals["w"] * 1e3 / np.max(np.abs(vals["X"] @ vals["w"]))  # |X w| up to 1e3
    X, y, w, c = vals["X"], vals["y"], vals["w"], vals["c"]
    s = expit(-y * (X @ w))
    want = X.T @ ((s * (1 - s))[:, None] * X) + 2 * c * np.eye(X.shape[1])
    Hc = matdiff.hessian(LOGISTIC, "w").compile()(**vals)
    assert np.all(np.isfinite(Hc))
    np.testing.assert_allclose(Hc, want, rtol=1e-10, atol=1e-12)


def test_matrix_variable_dense_hessian_is_kronecker(rng):
    """tr(X'*A*X) wrt X (m x k): vec-Hessian I_k ⊗ (A + A')."""
    X, A = rng.standard_normal((N, 3)), rng.standard_normal((N, N))
    h = matdiff.hessian("tr(X'*A*X)", "X")
    assert h.expr is None
    want = np.kron(np.eye(3), A + A.T)
    np.testing.assert_allclose(h.evaluate({"X": X, "A": A}), want, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(h.compile()(X=X, A=A), want, rtol=1e-14, atol=1e-14)
    text = "".join(h.kronecker[0].split())
    assert "⊗(A+A')" in text and text.startswith("(I⊗"), h.kronecker[0]


def test_least_squares_dense_hessian(rng):
    """norm_fro(A*X - B)^2 wrt X: 2 I ⊗ A'A."""
    A, X, B = rng.standard_normal((5, N)), rng.standard_normal((N, 3)), rng.standard_normal((5, 3))
    H = matdiff.hessian("norm_fro(A*X-B)^2", "X").evaluate({"A": A, "X": X, "B": B})
    np.testing.assert_allclose(H, 2 * np.kron(np.eye(3), A.T @ A), rtol=1e-12, atol=1e-12)


def test_spd_variable_hvp_symmetric(rng):
    S = spd(rng, N)
    h = matdiff.hessian("tr(inv(S))", "S", {"S": "spd"})
    V = symmetric(rng, N)
    HV = h.hvp({"S": S}, V)
    np.testing.assert_allclose(HV, HV.T, rtol=0, atol=1e-12)
    Si = np.linalg.inv(S)
    np.testing.assert_allclose(HV, Si @ V @ Si @ Si + Si @ Si @ V @ Si, rtol=1e-10)


def test_symmetric_variable_hvp_symmetric_where_gradient_needs_the_symmetric_part(rng):
    vals = {"S": symmetric(rng, N), "A": rng.standard_normal((N, N)), "B": rng.standard_normal((N, N))}
    h = matdiff.hessian("tr(S*A*S*B)", "S", {"S": "symmetric"})
    HV = h.hvp(vals, symmetric(rng, N))
    np.testing.assert_allclose(HV, HV.T, rtol=0, atol=1e-12)


def test_scalar_variable_hessian_is_a_float():
    h = matdiff.hessian("a^3*b", "a")
    got = h.evaluate({"a": 2.0, "b": 3.0})
    assert isinstance(got, float) and got == pytest.approx(36.0, rel=1e-14)


def test_hessian_steps_and_latex():
    h = matdiff.hessian("x'*A*x", "x")
    assert h.steps and all(str(s) for s in h.steps)
    assert "A" in h.latex and "top" in h.latex


# ------------------------------------------------------------------------------ several variables


def test_two_variable_blocks_bilinear(rng):
    x, y, A = rng.standard_normal(3), rng.standard_normal(4), rng.standard_normal((3, 4))
    vals = {"x": x, "y": y, "A": A}
    h = matdiff.hessian("x'*A*y", ["x", "y"])
    np.testing.assert_allclose(h.blocks[("x", "y")].jacobian(vals), A, rtol=1e-14)
    np.testing.assert_allclose(h.blocks[("y", "x")].jacobian(vals), A.T, rtol=1e-14)
    H = h.evaluate(vals)
    want = np.block([[np.zeros((3, 3)), A], [A.T, np.zeros((4, 4))]])
    np.testing.assert_allclose(H, want, rtol=1e-14, atol=0)


def test_two_variable_hvp_matches_differences(rng):
    expr = "x'*A*y + b*x'*x + sum(exp(y))"
    vals = {"x": rng.standard_normal(3), "y": 0.5 * rng.standard_normal(4), "A": rng.standard_normal((3, 4)),
            "b": 0.7}
    h = matdiff.hessian(expr, ["x", "y"])
    V = {"x": rng.standard_normal(3), "y": rng.standard_normal(4)}
    got = h.hvp(vals, V)
    g = matdiff.grad(expr, wrt=["x", "y"])

    def grads(t):
        v = dict(vals, x=vals["x"] + t * V["x"], y=vals["y"] + t * V["y"])
        return np.concatenate([g["x"].evaluate(v), g["y"].evaluate(v)])

    want = central_richardson(grads, 1e-3)
    _close(np.concatenate([got["x"], got["y"]]), want)
    H = h.evaluate(vals)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    _close(H @ np.concatenate([V["x"], V["y"]]), want)


def test_two_matrix_variable_blocks(rng):
    """tr(X*Y): the off-diagonal blocks are the commutation matrix, the diagonal blocks zero."""
    X, Y = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    H = matdiff.hessian("tr(X*Y)", ["X", "Y"]).evaluate({"X": X, "Y": Y})
    K = np.zeros((9, 9))
    for i in range(3):
        for j in range(3):
            K[i + 3 * j, j + 3 * i] = 1.0
    want = np.block([[np.zeros((9, 9)), K], [K.T, np.zeros((9, 9))]])
    np.testing.assert_array_equal(H, want)


# ------------------------------------------------------------------------------ diagonal variables, zero Hessians


def test_diagonal_variable_hvp_along_diagonal_directions(rng):
    vals = {"D": np.diag(rng.standard_normal(N)), "A": rng.standard_normal((N, N)), "B": rng.standard_normal((N, N))}
    expr, types = "tr(D*A*D*B)", {"D": "diagonal"}
    h = matdiff.hessian(expr, "D", types)
    for _ in range(2):
        V = np.diag(rng.standard_normal(N))
        HV = h.hvp(vals, V)
        np.testing.assert_array_equal(HV, np.diag(np.diag(HV)))
        _close(HV, numeric_hvp(expr, "D", vals, V, types))
        want = second_difference(expr, "D", vals, V, types)
        assert float(np.sum(HV * V)) == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_diagonal_variable_dense_hessian_symmetric(rng):
    vals = {"D": np.diag(rng.standard_normal(3)), "A": rng.standard_normal((3, 3)), "B": rng.standard_normal((3, 3))}
    H = matdiff.hessian("tr(D*A*D*B)", "D", {"D": "diagonal"}).evaluate(vals)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_zero_hessian_of_a_scalar_is_a_float():
    h = matdiff.hessian("a*b", "a")
    got = h.evaluate({"a": 1.0, "b": 2.0})
    assert isinstance(got, float) and got == 0.0


def test_zero_hessian_of_a_vector_is_zero(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    h = matdiff.hessian("x'*y", "x")
    np.testing.assert_array_equal(h.evaluate({"x": x, "y": y}), np.zeros((3, 3)))
    np.testing.assert_array_equal(h.hvp({"x": x, "y": y}, y), np.zeros(3))


def test_zero_hessian_has_a_symbolic_form():
    assert matdiff.hessian("x'*y", "x").expr is not None


# ------------------------------------------------------------------- second derivatives of det at singular points


def _eigen_123():
    P = np.array([[1.0, 1, 0], [0, 1, 1], [0, 0, 1]])  # det 1: A has integer entries, eigenvalues exactly 1, 2, 3
    return np.rint(P @ np.diag([1.0, 2.0, 3.0]) @ np.linalg.inv(P))


def test_charpoly_second_derivative_away_from_eigenvalues():
    A = _eigen_123()
    h = matdiff.hessian("det(x*eye - A)", "x", {"x": "scalar"})
    for x in (0.3, 1.5, 2.5, 4.0):  # p(x) = (x-1)(x-2)(x-3), p''(x) = 6x - 12
        assert h.evaluate({"x": x, "A": A}) == pytest.approx(6 * x - 12, rel=1e-10, abs=1e-10)
        assert h.compile()(x=x, A=A) == pytest.approx(6 * x - 12, rel=1e-10, abs=1e-10)


def test_charpoly_second_derivative_at_an_eigenvalue():
    """d adj(A) = adj_d(A, dA) is exact at singular A: p''(1) for p(x) = det(x*eye - A), eigenvalue 1 (-6)."""
    A = _eigen_123()
    h = matdiff.hessian("det(x*eye - A)", "x", {"x": "scalar"})
    assert h.evaluate({"x": 1.0, "A": A}) == pytest.approx(-6.0, rel=1e-10)
