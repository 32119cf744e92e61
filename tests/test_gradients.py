"""The required exact forms, symmetric variables, stable generated code and det at singular matrices."""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff
from conftest import (
    check_gradient,
    directional_derivative,
    inner,
    random_direction,
    same_up_to_spacing,
    spd,
    symmetric,
    well_conditioned,
)

# ------------------------------------------------------------------ exact forms (up to spacing)

EXACT = [
    ("norm_fro(X)", "X", None, "X/norm_fro(X)"),
    ("x'*A*y", "A", None, "x*y'"),
    ("det(A)", "A", None, "adj(A)'"),
    ("logdet(A)", "A", None, "inv(A)'"),
    ("tr(A*X*B)", "X", None, "A'*B'"),
    ("x'*A*x", "x", None, "(A+A')*x"),
]


@pytest.mark.parametrize("expr, wrt, types, expected", EXACT, ids=[e[0] for e in EXACT])
def test_required_exact_form(expr, wrt, types, expected):
    g = str(matdiff.grad(expr, wrt, types).gradient)
    assert same_up_to_spacing(g, expected), f"grad_{wrt} {expr} = {g}, expected {expected}"


def _values_for_exact(rng, expr):
    n = 4
    v = {
        "X": rng.standard_normal((n, n)),
        "A": well_conditioned(rng, n),
        "B": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
    }
    if expr == "logdet(A)" and np.linalg.det(v["A"]) < 0:
        v["A"][0] *= -1
    return {k: val for k, val in v.items() if re.search(rf"\b{k}\b", expr)}


@pytest.mark.parametrize("expr, wrt, types, expected", EXACT, ids=[e[0] for e in EXACT])
def test_required_forms_are_right_numerically(rng, expr, wrt, types, expected):
    values = _values_for_exact(rng, expr)
    g = check_gradient(expr, wrt, values, types, rng=rng)
    # the expected text itself, evaluated independently, gives the same array
    want = matdiff.evaluate(expected, values, types)
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)


def test_matrix_cookbook_closed_forms(rng):
    """Against formulas written directly in NumPy (Matrix Cookbook), not against matdiff."""
    n = 5
    A, B, X = (rng.standard_normal((n, n)) for _ in range(3))
    W = well_conditioned(rng, n)
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    G = matdiff.grad("tr(A*X*B)", "X").evaluate({"A": A, "X": X, "B": B})
    np.testing.assert_allclose(G, A.T @ B.T, rtol=1e-12)
    G = matdiff.grad("x'*A*x", "x").evaluate({"x": x, "A": A})
    np.testing.assert_allclose(G, (A + A.T) @ x, rtol=1e-12)
    G = matdiff.grad("det(W)", "W").evaluate({"W": W})
    np.testing.assert_allclose(G, np.linalg.det(W) * np.linalg.inv(W).T, rtol=1e-10)
    G = matdiff.grad("x'*inv(W)*y", "W").evaluate({"x": x, "W": W, "y": y})
    Wi = np.linalg.inv(W)
    np.testing.assert_allclose(G, -Wi.T @ np.outer(x, y) @ Wi.T, rtol=1e-9)
    G = matdiff.grad("tr(X'*X)", "X").evaluate({"X": X})
    np.testing.assert_allclose(G, 2 * X, rtol=1e-12)
    G = matdiff.grad("norm2(x - y)", "x").evaluate({"x": x, "y": y})
    np.testing.assert_allclose(G, (x - y) / np.linalg.norm(x - y), rtol=1e-12)


# ------------------------------------------------------------------ more composite gradients

COMPOSITE = [
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}),
    ("x'*inv(A + X)*y", "X", None),
    ("norm_fro(X*X' - A)", "X", None),
    ("log(sum(exp(x)))", "x", None),
    ("x'*A*x + log(sum(exp(x)))", "x", None),
    ("tr(inv(X'*X + eye))", "X", None),
    ("sum(tanh(A*x + b) .* y)", "x", {"b": "vector"}),
    ("norm2(A*x - y)^2 + a*norm1(x)", "x", None),
]


def _random_values(rng, expr, types):
    """Values for every variable of a composite expression (sizes 4 / 3)."""
    vals = {}
    for name in sorted(set(re.findall(r"\b[A-Za-z]\w*\b", expr))):
        if name in ("logdet", "tr", "inv", "norm_fro", "log", "sum", "exp", "eye", "tanh", "norm2", "norm1"):
            continue
        kind = (types or {}).get(name) or (
            "scalar" if name[0] in "abcdefg" else "vector" if name[0].islower() else "matrix"
        )
        if kind == "spd":
            vals[name] = spd(rng, 4)
        elif kind == "scalar":
            vals[name] = float(rng.uniform(0.5, 1.5))
        elif kind == "vector":
            vals[name] = rng.choice([-1, 1], 4) * rng.uniform(0.5, 1.5, 4)
        else:
            vals[name] = well_conditioned(rng, 4)
    return vals


@pytest.mark.parametrize("expr, wrt, types", COMPOSITE, ids=[c[0] for c in COMPOSITE])
def test_composite_gradients(rng, expr, wrt, types):
    check_gradient(expr, wrt, _random_values(rng, expr, types), types, rng=rng)


# ------------------------------------------------------------------ symmetric / spd variables

SYM = [
    ("tr(A*S)", {"S": "symmetric"}),
    ("x'*S*y", {"S": "symmetric"}),
    ("tr(S*S*A)", {"S": "symmetric"}),
    ("logdet(S) + tr(inv(S)*C)", {"S": "spd"}),
    ("det(S)", {"S": "spd"}),
    ("norm_fro(S - A)", {"S": "symmetric"}),
    ("x'*inv(S)*y", {"S": "spd"}),
]


@pytest.mark.parametrize("expr, types", SYM, ids=[s[0] for s in SYM])
def test_symmetric_gradient_is_symmetric_part(rng, expr, types):
    n = 4
    kind = types["S"]
    S = spd(rng, n) if kind == "spd" else symmetric(rng, n)
    values = {
        "S": S,
        "A": rng.standard_normal((n, n)),
        "C": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
    }
    values = {k: v for k, v in values.items() if re.search(rf"\b{k}\b", expr)}
    r = matdiff.grad(expr, "S", types)
    G = r.evaluate(values)
    np.testing.assert_allclose(G, G.T, rtol=0, atol=1e-12 * max(1.0, np.abs(G).max()))
    Gc = r.compile()(**values)
    np.testing.assert_allclose(Gc, G, rtol=1e-10, atol=1e-12)
    # equals sym(G_unconstrained), where G_unconstrained treats S as a general matrix
    Gu = matdiff.grad(expr, "S", {"S": "matrix"}).evaluate(values)
    np.testing.assert_allclose(G, (Gu + Gu.T) / 2, rtol=1e-9, atol=1e-12)
    # and it is right along symmetric directions
    for _ in range(3):
        D = random_direction(rng, S, sym=True)
        num = directional_derivative(expr, values, "S", D, types)
        assert inner(G, D) == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_symmetric_gradient_is_not_2G_minus_diag(rng):
    """DESIGN.md: the Riesz representer (G + G')/2, not the often-quoted 2G - diag(G)."""
    n = 3
    A = rng.standard_normal((n, n))
    S = spd(rng, n)
    G = matdiff.grad("tr(A*S)", "S", {"S": "spd"}).evaluate({"A": A, "S": S})
    np.testing.assert_allclose(G, (A + A.T) / 2, rtol=1e-12)
    wrong = 2 * A.T - np.diag(np.diag(A))
    assert not np.allclose(G, wrong)


def test_symmetric_steps_say_so():
    r = matdiff.grad("tr(A*S)", "S", {"S": "spd"})
    text = r.steps_text
    assert "(M + M')/2" in text
    assert "symmetric" in text


def test_diagonal_variable_gradient_is_diagonal(rng):
    """The Riesz representer on diagonal matrices is the diagonal part (once the symmetric part)."""
    n = 3
    A = rng.standard_normal((n, n))
    D = np.diag(rng.uniform(1, 2, n))
    G = matdiff.grad("tr(D*A)", "D", {"D": "diagonal"}).evaluate({"D": D, "A": A})
    np.testing.assert_allclose(G, np.diag(np.diag(A)), rtol=1e-12)


# ------------------------------------------------------------------ generated code: no inverse multiplied


_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _left_operand(line: str, at: int) -> str:
    i = at - 1
    while i >= 0 and line[i] == " ":
        i -= 1
    end = i + 1
    while i >= 0:
        if line[i] == ")":
            depth = 0
            while i >= 0:
                depth += line[i] == ")"
                depth -= line[i] == "("
                i -= 1
                if depth == 0:
                    break
        elif line[i] in _NAME:
            i -= 1
        else:
            break
    return line[i + 1 : end]


def _right_operand(line: str, at: int) -> str:
    i = at + 1
    while i < len(line) and line[i] == " ":
        i += 1
    start = i
    while i < len(line):
        if line[i] == "(":
            depth = 0
            while i < len(line):
                depth += line[i] == "("
                depth -= line[i] == ")"
                i += 1
                if depth == 0:
                    break
        elif line[i] in _NAME:
            i += 1
        else:
            break
    return line[start:i]


def _inverse_multiplied(src: str) -> list[str]:
    """The operands of @ in generated source that are (or contain, at top level) an explicit inverse."""
    inv_names = set(re.findall(r"(\w+)\s*=\s*[\w.]*\binv\(", src))
    bad = []
    for line in src.splitlines():
        for m in re.finditer("@", line):
            for operand in (_left_operand(line, m.start()), _right_operand(line, m.start())):
                if "solve(" in operand:
                    continue
                tokens = set(re.findall(r"\w+", operand))
                if re.search(r"\binv\(", operand) or tokens & inv_names:
                    bad.append(f"{operand!r} in {line.strip()!r}")
    return bad


def test_inverse_multiplied_detector():
    assert _inverse_multiplied("    return ((_np.linalg.matrix_power(_K.inv(A), 1)) @ y)[:, 0]")
    assert _inverse_multiplied("    return _K.inv(A) @ y")
    assert _inverse_multiplied("    t0 = _K.inv(A)\n    return x @ t0.T")
    assert not _inverse_multiplied("    t0 = _K.inv(A)\n    return t0.T")
    assert _inverse_multiplied("    t0 = _K.inv(A)\n    return ((t0 + t0.T) @ x)[:, 0]")
    assert not _inverse_multiplied("    return _K.solve(A, (x @ (y.T)))")
    assert not _inverse_multiplied("    t0 = _K.inv(A)\n    return _K.solve(A, y) @ x.T")




@pytest.mark.parametrize(
    "expr, wrt",
    [
        ("x'*inv(A)*y", "x"),
        ("x'*inv(A)*y", "A"),
        ("x'*inv(A)*y", "y"),
        ("tr(inv(A)*B)", "A"),
        ("logdet(A) + x'*inv(A)*x", "x"),
        ("x'*A^-1*y", "x"),  # once matrix_power(inv(A), 1) @ y
        ("tr(A^-1*B*A^-1)", "B"),
    ],
)
def test_compiled_source_solves_instead_of_inverting(rng, expr, wrt):
    r = matdiff.grad(expr, wrt)
    src = r.source()
    assert "solve" in src, src
    assert "np.linalg.inv" not in src, src
    assert not _inverse_multiplied(src), src
    n = 4
    values = {
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
        "A": well_conditioned(rng, n),
        "B": rng.standard_normal((n, n)),
    }
    values = {k: v for k, v in values.items() if k in r.variables}
    np.testing.assert_allclose(r.compile()(**values), r.evaluate(values), rtol=1e-10, atol=1e-12)


def test_compiled_source_is_python_numpy_and_documented():
    r = matdiff.grad("x'*A*y", "A")
    src = r.source()
    compile(src, "<matdiff>", "exec")  # it is valid Python
    assert "def " in src
    assert "x*y'" in src  # the docstring names the gradient
    assert r.source() == src  # stable


def test_compile_requires_all_values(rng):
    f = matdiff.grad("x'*A*y", "A").compile()
    with pytest.raises(matdiff.MatdiffError, match="y"):
        f(x=rng.standard_normal(3), A=rng.standard_normal((3, 3)))


# ------------------------------------------------------------------ det at a singular matrix


def _cofactor_transpose(A: np.ndarray) -> np.ndarray:
    """The cofactor matrix C (C_ij = (-1)^(i+j) M_ij) = adj(A)' = the gradient of det, by brute force."""
    n = A.shape[0]
    C = np.empty_like(A)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(A, i, axis=0), j, axis=1)
            C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return C


@pytest.mark.parametrize("n", [3, 5])
def test_det_gradient_at_rank_deficient_matrix(rng, n):
    # an integer matrix of rank n-1: the last row is the sum of the first two
    A = rng.integers(-3, 4, (n, n)).astype(float)
    A[-1] = A[0] + A[1]
    assert np.linalg.matrix_rank(A) == n - 1
    r = matdiff.grad("det(A)", "A")
    G = r.evaluate({"A": A})
    Gc = r.compile()(A=A)
    want = _cofactor_transpose(A)
    assert np.all(np.isfinite(G)) and np.all(np.isfinite(Gc))
    assert np.abs(want).max() > 0.5  # rank n-1: the adjugate is not zero
    np.testing.assert_allclose(G, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    np.testing.assert_allclose(Gc, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    # and along random directions (det(A + tD) is a polynomial in t, differentiable everywhere)
    for _ in range(3):
        D = rng.standard_normal((n, n))
        num = directional_derivative("det(A)", {"A": A}, "A", D)
        assert inner(G, D) == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_det_gradient_at_nearly_singular_matrix(rng):
    n = 4
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = U @ np.diag([3.0, 2.0, 1.0, 1e-13]) @ V.T
    G = matdiff.grad("det(A)", "A").evaluate({"A": A})
    want = _cofactor_transpose(A)
    np.testing.assert_allclose(G, want, rtol=1e-6, atol=1e-9 * np.abs(want).max())


def test_charpoly_derivative_at_an_eigenvalue():
    """p'(x) = tr(adj(x*eye - A)) is right at an eigenvalue (the seed's form is 0*inf there)."""
    A = np.diag([1.0, 2.0, 4.0])
    r = matdiff.grad("det(x*eye - A)", "x", {"x": "scalar"})
    # p(x) = (x-1)(x-2)(x-4), p'(2) = (2-1) + 0 + 0 ... = (x-2)(x-4) + (x-1)(x-4) + (x-1)(x-2) at x=2: -2
    assert r.evaluate({"x": 2.0, "A": A}) == pytest.approx(-2.0, abs=1e-12)
    assert r.compile()(x=2.0, A=A) == pytest.approx(-2.0, abs=1e-12)


# ------------------------------------------------------------------ found by random expressions


REGRESSIONS = [
    ("tr(X'')", "X", None),
    ("x'*X''*y", "X", None),
    ("tr(A*inv(X)')", "X", None),
    ("tr(A*adj(X)')", "X", None),
    ("norm1(inv(X + 3*eye)')", "X", None),
    ("tr(X)^2 + tr(X'*X)^3", "X", None),
    ("tr(B + 1)*tr(X)", "X", None),
    ("tr(X + a)^2", "X", {"a": "scalar"}),
    ("sum(exp(0*A)*X)", "X", None),
    ("sum((A - A + 1)*X)", "X", None),
    ("sum(exp(X - X)*X)", "X", None),
    ("norm_fro(x*y')", "x", None),
    ("norm_fro(x*y')", "y", None),
]


@pytest.mark.parametrize("expr, wrt, types", REGRESSIONS)
def test_regressions_from_random_expressions(rng, expr, wrt, types):
    n = 3
    vals = {
        "X": well_conditioned(rng, n),
        "A": rng.standard_normal((n, n)),
        "B": rng.standard_normal((n, n)),
        "x": rng.standard_normal(n),
        "y": rng.standard_normal(n),
        "a": 0.7,
    }
    vals = {k: v for k, v in vals.items() if re.search(rf"\b{k}\b", expr)}
    check_gradient(expr, wrt, vals, types, rng=rng)
