"""Generated NumPy code (issue 4): solves not inverses, one Cholesky, chain order, diagonal broadcasts,
det gradients at singular matrices, compiled == evaluated, readable source, stable logistic loss."""

from __future__ import annotations

import re
import zlib
from fractions import Fraction

import numpy as np
import pytest
from scipy.special import expit

import matdiff
from conftest import (
    away_from_zero,
    check_gradient,
    directional_derivative,
    distinct_singular_values,
    positive,
    positive_det,
    spd,
    symmetric,
    well_conditioned,
)

N = 4
LOGISTIC = "sum(log(1+exp(-y.*(X*w)))) + c*w'*w"


# ------------------------------------------------------------------------------ solves, factorizations, order


def test_quadratic_with_inverse_uses_solve():
    src = matdiff.grad("x'*inv(A)*y", wrt="x").source()
    assert "_F.solve(" in src, src
    assert "_F.inv(" not in src and "_np.linalg.inv(" not in src, src
    # no product with an explicit inverse anywhere
    assert not re.search(r"inv\([^)]*\)\s*@|@\s*_?\w*\.?inv\(", src), src


def test_quadratic_with_inverse_compiled_value(rng):
    A, x, y = well_conditioned(rng, N), rng.standard_normal(N), rng.standard_normal(N)
    g = matdiff.grad("x'*inv(A)*y", wrt="x").compile()(x=x, A=A, y=y)
    np.testing.assert_allclose(g, np.linalg.solve(A, y), rtol=1e-12)


def test_gaussian_nll_one_cholesky(rng):
    fg = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"})
    src = fg.source()
    assert src.count("_F.chol(") == 1, src
    assert "_F.lu(" not in src and "_np.linalg.inv(" not in src, src
    S, C = spd(rng, N), spd(rng, N)
    value, grads = fg(S=S, C=C)
    Si = np.linalg.inv(S)
    assert value == pytest.approx(np.linalg.slogdet(S)[1] + np.trace(Si @ C), rel=1e-12)
    np.testing.assert_allclose(grads["S"], Si - Si @ C @ Si, rtol=1e-10, atol=1e-12)
    # the gradient is the symmetric representer, and right along symmetric directions
    check_gradient("logdet(S) + tr(inv(S)*C)", "S", {"S": S, "C": C}, {"S": "spd"}, rng=rng)


def test_chain_order_never_forms_AB(rng):
    r = matdiff.grad("x'*A*B*y", wrt="x")
    src = r.source()
    assert not re.search(r"\bA\s*@\s*B\b", src), src
    assert re.search(r"B\s*@\s*y", src), src
    A, B, y = rng.standard_normal((N, 6)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    got = r.compile()(x=rng.standard_normal(N), A=A, B=B, y=y)
    np.testing.assert_allclose(got, A @ (B @ y), rtol=1e-12)


def test_chain_order_value_and_gradient():
    src = matdiff.compile("x'*A*B*y", wrt=["x", "y"]).source()
    assert not re.search(r"\bA\s*@\s*B\b", src), src


def test_logistic_hessian_diag_as_broadcast(rng):
    """X' diag(v) X for X of shape (4n, n): no dense 4n x 4n diagonal in the code."""
    n = 6
    h = matdiff.hessian(LOGISTIC, "w")
    src = h.source()
    assert "_np.diag(" not in src, src
    assert "_np.eye(" not in src or src.count("_np.eye(") == 1  # the 2c*I term at most
    X = rng.standard_normal((4 * n, n))
    y = rng.choice([-1.0, 1.0], 4 * n)
    w = rng.standard_normal(n)
    s = expit(-y * (X @ w))
    want = X.T @ ((s * (1 - s))[:, None] * X) + 2 * 0.5 * np.eye(n)
    np.testing.assert_allclose(h.compile()(X=X, y=y, w=w, c=0.5), want, rtol=1e-11)


def test_trace_of_product_without_product():
    src = matdiff.compile("tr(A*B)", wrt=["A"]).source()
    assert "A @ B" not in src, src


# ------------------------------------------------------------------------------ det at singular matrices


def _exact_det(rows: list[list[int]]) -> int:
    """Bareiss fraction-free elimination on Python integers: the exact determinant."""
    a = [[Fraction(v) for v in r] for r in rows]
    n = len(a)
    det = Fraction(1)
    for k in range(n):
        p = next((i for i in range(k, n) if a[i][k] != 0), None)
        if p is None:
            return 0
        if p != k:
            a[k], a[p] = a[p], a[k]
            det = -det
        det *= a[k][k]
        for i in range(k + 1, n):
            f = a[i][k] / a[k][k]
            for j in range(k, n):
                a[i][j] -= f * a[k][j]
    return int(det)


def _exact_cofactors(M: np.ndarray) -> np.ndarray:
    """The cofactor matrix C (C[i, j] = (-1)^(i+j) det(minor_ij)), exactly, = adj(M)' = grad det(M)."""
    Mi = [[int(v) for v in row] for row in M]
    n = len(Mi)
    C = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            minor = [[Mi[r][c] for c in range(n) if c != j] for r in range(n) if r != i]
            C[i, j] = (-1) ** (i + j) * _exact_det(minor) if minor else 1
    return C


def _singular_integer(rng, n: int, rank: int, scale: int) -> np.ndarray:
    """An integer n x n matrix of rank exactly ``rank`` (the last rows integer combinations of the first)."""
    top = rng.integers(-scale, scale + 1, size=(rank, n))
    while np.linalg.matrix_rank(top.astype(float)) < rank:
        top = rng.integers(-scale, scale + 1, size=(rank, n))
    comb = rng.integers(-3, 4, size=(n - rank, rank))
    M = np.vstack([top, comb @ top])
    perm = rng.permutation(n)
    return M[perm].astype(float)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
@pytest.mark.parametrize("scale", [9, 10**5], ids=["small", "large"])
def test_det_gradient_rank_n_minus_1(rng, n, scale):
    M = _singular_integer(rng, n, n - 1, scale)
    assert _exact_det([[int(v) for v in r] for r in M]) == 0
    want = _exact_cofactors(M)
    assert np.any(want != 0)
    r = matdiff.grad("det(X)", wrt="X")
    for how, g in (("compile", r.compile()(X=M)), ("evaluate", r.evaluate({"X": M}))):
        assert np.all(np.isfinite(g)), how
        err = np.max(np.abs(g - want)) / np.max(np.abs(want))
        assert err < 1e-9, f"{how}: relative error {err:.2g} of the adjugate at a rank n-1 matrix"


@pytest.mark.parametrize("n", [3, 4, 6])
@pytest.mark.parametrize("scale", [9, 10**5], ids=["small", "large"])
def test_det_gradient_rank_n_minus_2_is_zero(rng, n, scale):
    M = _singular_integer(rng, n, n - 2, scale)
    assert not np.any(_exact_cofactors(M))
    bound = 1e-12 * np.linalg.norm(M, 2) ** (n - 1)  # round-off relative to the size of a cofactor
    r = matdiff.grad("det(X)", wrt="X")
    for how, g in (("compile", r.compile()(X=M)), ("evaluate", r.evaluate({"X": M}))):
        assert np.all(np.isfinite(g)), how
        assert np.max(np.abs(g)) <= bound, f"{how}: |grad det| = {np.max(np.abs(g)):.3g} > {bound:.3g}"


@pytest.mark.parametrize("k", [200, -200], ids=["2^200", "2^-200"])
def test_det_gradient_singular_with_extreme_entries(rng, k):
    """An exactly singular integer matrix scaled by 2^k (still exact): cofactors scale by 2^(k(n-1))."""
    n = 4
    s = 2.0**k
    r = matdiff.grad("det(X)", wrt="X")
    M = _singular_integer(rng, n, n - 1, 9)
    want = _exact_cofactors(M) * s ** (n - 1)
    g = r.compile()(X=M * s)
    assert np.all(np.isfinite(g))
    assert np.max(np.abs(g - want)) <= 1e-12 * np.max(np.abs(want))
    M2 = _singular_integer(rng, n, n - 2, 9) * s
    g2 = r.compile()(X=M2)
    assert np.all(np.isfinite(g2))
    assert np.max(np.abs(g2)) <= 1e-12 * np.linalg.norm(M2, 2) ** (n - 1)


def test_det_gradient_near_singular_float_matrix(rng):
    """Rank n-1 to working precision (a random product U V): still the adjugate, finite and accurate."""
    n = 5
    M = rng.standard_normal((n, n - 1)) @ rng.standard_normal((n - 1, n))
    u, s, vt = np.linalg.svd(M)
    # adj(M) = det(U) det(V) V diag(prod of the other s) U' ; s[-1] ~ 0
    others = np.array([np.prod(np.delete(s, i)) for i in range(n)])
    adj = np.linalg.det(u) * np.linalg.det(vt) * (vt.T @ np.diag(others) @ u.T)
    g = matdiff.grad("det(X)", wrt="X").compile()(X=M)
    np.testing.assert_allclose(g, adj.T, rtol=0, atol=1e-10 * np.max(np.abs(adj)))


def test_det_gradient_well_conditioned(rng):
    A = well_conditioned(rng, N)
    g = matdiff.grad("det(A)", wrt="A").compile()(A=A)
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-11)


# ------------------------------------------------------------------------------ compiled == evaluated


def _default(rng, name: str, n: int = N):
    if name[0] in "abcdefg":
        return float(rng.uniform(0.5, 1.5))
    if name[0].islower():
        return rng.standard_normal(n)
    return well_conditioned(rng, n)


# (expression, wrt, types, overrides: name -> function of rng)
EXPRS = [
    ("x'*A*y", "A", None, {}),
    ("x'*A*x", "x", None, {}),
    ("norm_fro(X)", "X", None, {}),
    ("det(A)", "A", None, {}),
    ("logdet(A)", "A", None, {"A": lambda r: positive_det(r, N)}),
    ("tr(A*X*B)", "X", None, {}),
    ("norm_fro(A*X-B)^2", "X", None, {}),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}, {"S": lambda r: spd(r, N)}),
    ("x'*inv(A)*x", "A", None, {}),
    (LOGISTIC, "w", None, {"X": lambda r: r.standard_normal((10, N)), "y": lambda r: r.choice([-1.0, 1.0], 10)}),
    ("tr(X'*A*X*B)", "X", None, {}),
    ("log(sum(exp(x)))", "x", None, {}),
    ("sum(exp(A*x))", "x", None, {"A": lambda r: 0.5 * r.standard_normal((N, N))}),
    ("norm2(x)", "x", None, {}),
    ("norm1(X)", "X", None, {"X": lambda r: away_from_zero(r, (N, N))}),
    ("tr(inv(X))", "X", None, {}),
    ("sum(sin(X).*A)", "X", None, {}),
    ("x'*diag(y)*x", "y", None, {}),
    ("a*norm_fro(X)^2 + b*tr(X)", "a", None, {}),
    ("a*norm_fro(X)^2 + b*tr(X)", "X", None, {}),
    ("norm_nuc(X)", "X", None, {"X": lambda r: distinct_singular_values(r, N, N)}),
    ("norm2(X)", "X", None, {"X": lambda r: distinct_singular_values(r, N, N)}),
    ("sum(sqrt(x))", "x", None, {"x": lambda r: positive(r, N)}),
    ("det(x*eye - A)", "x", {"x": "scalar"}, {"x": lambda r: float(r.uniform(2, 3))}),
    ("x'*A'*A*x/(x'*x)", "x", None, {}),
    ("tr(S*A*S)", "S", {"S": "symmetric"}, {"S": lambda r: symmetric(r, N)}),
    ("sum(tanh(X*w))", "w", None, {}),
    ("norm_fro(X.*A)^2", "X", None, {}),
    ("tr(X^3)", "X", None, {}),
    ("sum(abs(x))", "x", None, {"x": lambda r: away_from_zero(r, N)}),
    ("tr(inv(A)*B)", "A", None, {}),
    ("logdet(S)", "S", {"S": "spd"}, {"S": lambda r: spd(r, N)}),
    ("tr(D*A)", "D", {"D": "diagonal"}, {"D": lambda r: np.diag(r.standard_normal(N))}),
    ("x'*A*B*y", "x", None, {}),
    ("sum(x./y)", "y", None, {"y": lambda r: away_from_zero(r, N)}),
    ("tr(adj(X))", "X", None, {}),
]
EXPR_IDS = [f"{e} wrt {w}" for e, w, _, _ in EXPRS]


def _point(rng, expr, overrides):
    names = set(re.findall(r"\b[A-Za-z][A-Za-z0-9_]*\b", expr)) - {
        "tr", "det", "logdet", "inv", "adj", "norm_fro", "norm2", "norm_nuc", "norm1", "sum", "diag", "exp",
        "log", "sin", "cos", "tanh", "sqrt", "abs", "eye"}
    return {k: overrides[k](rng) if k in overrides else _default(rng, k) for k in sorted(names)}


@pytest.mark.parametrize("expr, wrt, types, overrides", EXPRS, ids=EXPR_IDS)
def test_compiled_equals_evaluate(expr, wrt, types, overrides):
    rng = np.random.default_rng(zlib.crc32((expr + wrt).encode()))
    values = _point(rng, expr, overrides)
    r = matdiff.grad(expr, wrt=wrt, types=types)
    want = r.evaluate(values)
    got = r.compile()(**values)
    assert np.shape(got) == np.shape(values[wrt])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * max(1.0, float(np.max(np.abs(want)))))


# regression: matdiff.compile used to raise ShapeError ('the size of an identity or ones matrix is not determined')
# when the value or a gradient held eye/ones (tr(X), det(x*eye - A)): the expression was re-typed with new sizes
@pytest.mark.parametrize("expr, wrt, types, overrides", EXPRS, ids=EXPR_IDS)
def test_value_and_grad_equals_evaluate(expr, wrt, types, overrides):
    rng = np.random.default_rng(zlib.crc32((expr + wrt).encode()))
    values = _point(rng, expr, overrides)
    want = matdiff.grad(expr, wrt=wrt, types=types).evaluate(values)
    value, grads = matdiff.compile(expr, wrt=[wrt], types=types)(**values)
    assert float(value) == pytest.approx(float(matdiff.evaluate(expr, values, types)), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grads[wrt], want, rtol=1e-9, atol=1e-11 * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.parametrize("expr, wrt, types, overrides", [e for e in EXPRS if e[2] != {"D": "diagonal"}],
                         ids=[i for e, i in zip(EXPRS, EXPR_IDS) if e[2] != {"D": "diagonal"}])
def test_compiled_gradient_numerically(expr, wrt, types, overrides):
    rng = np.random.default_rng(zlib.crc32((wrt + expr).encode()))
    values = _point(rng, expr, overrides)
    check_gradient(expr, wrt, values, types, rng=rng, n_dirs=2)


def test_diagonal_variable_gradient_numerically(rng):
    """tr(D*A*D*B) with D diagonal: the gradient is diagonal and right along diagonal directions."""
    expr, types = "tr(D*A*D*B)", {"D": "diagonal"}
    vals = {"D": np.diag(rng.standard_normal(N)), "A": rng.standard_normal((N, N)), "B": rng.standard_normal((N, N))}
    r = matdiff.grad(expr, wrt="D", types=types)
    for g in (r.evaluate(vals), r.compile()(**vals)):
        np.testing.assert_array_equal(g, np.diag(np.diag(g)))
        for _ in range(3):
            V = np.diag(rng.standard_normal(N))
            num = directional_derivative(expr, vals, "D", V, types)
            assert float(np.sum(g * V)) == pytest.approx(num, rel=1e-7, abs=1e-9)


# ------------------------------------------------------------------------------ readable source


@pytest.mark.parametrize("expr, wrt, types, overrides", EXPRS[:12], ids=EXPR_IDS[:12])
def test_source_compiles_and_is_documented(expr, wrt, types, overrides):
    r = matdiff.grad(expr, wrt=wrt, types=types)
    src = r.source()
    compile(src, f"<grad {expr}>", "exec")
    assert src.lstrip().startswith(f"def grad_{wrt}(")
    doc = re.search(r'"""(.*?)"""', src, re.S)
    assert doc, src
    assert "".join(str(r.gradient).split()) in "".join(doc.group(1).split()), doc.group(1)
    assert all(len(line) < 400 for line in src.splitlines())
    assert "eval(" not in src and "exec(" not in src


def test_value_and_grad_source_summarises_the_derivation():
    src = matdiff.compile("logdet(S) + tr(inv(S)*C)", wrt=["S"], types={"S": "spd"}).source()
    compile(src, "<fg>", "exec")
    assert "def value_and_grad(" in src
    assert '"""' in src and "derivation" in src and "grad_S" in src


# ------------------------------------------------------------------------------ logistic loss at huge margins


def _huge_margin_point(rng, m=50, n=5):
    X = rng.standard_normal((m, n))
    y = rng.choice([-1.0, 1.0], m)
    w = rng.standard_normal(n)
    w *= 1e3 / np.max(np.abs(X @ w))
    return {"X": X, "y": y, "w": w, "c": 0.1}


def _logistic_reference(X, y, w, c):
    m = y * (X @ w)
    value = float(np.sum(np.logaddexp(0.0, -m)) + c * w @ w)
    grad = -X.T @ (y * expit(-m)) + 2 * c * w
    return value, grad


def test_logistic_compiled_stable_at_huge_margins(rng):
    vals = _huge_margin_point(rng)
    assert np.max(np.abs(vals["X"] @ vals["w"])) > 500
    want_v, want_g = _logistic_reference(**vals)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, grads = matdiff.compile(LOGISTIC, wrt=["w"])(**vals)
        g = matdiff.grad(LOGISTIC, wrt="w").compile()(**vals)
    assert np.isfinite(value) and np.all(np.isfinite(grads["w"]))
    assert value == pytest.approx(want_v, rel=1e-12)
    np.testing.assert_allclose(grads["w"], want_g, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, want_g, rtol=1e-10, atol=1e-12)


def test_logistic_compiled_at_moderate_margins_matches_gradient_numerically(rng):
    vals = _huge_margin_point(rng)
    vals["w"] = vals["w"] * 1e-2  # margins up to 10: evaluate() is well behaved too
    check_gradient(LOGISTIC, "w", vals, rng=rng)


def test_logistic_evaluate_stable_at_huge_margins(rng):
    vals = _huge_margin_point(rng)
    want_v, want_g = _logistic_reference(**vals)
    with np.errstate(all="ignore"):
        value = matdiff.evaluate(LOGISTIC, vals)
        g = matdiff.grad(LOGISTIC, wrt="w").evaluate(vals)
    assert np.isfinite(value) and value == pytest.approx(want_v, rel=1e-12)
    np.testing.assert_allclose(g, want_g, rtol=1e-10)
