"""One numerically verified gradient per rule of the table in matdiff.calculus.rules.

Each case is a scalar expression that exercises the rule, the variable, the types and a
random point; the gradient (``r.evaluate`` and ``r.compile()``) is compared with central
differences + Richardson of ``matdiff.evaluate`` along 3 random directions.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from conftest import (
    away_from_zero,
    check_gradient,
    distinct_singular_values,
    positive,
    positive_det,
    spd,
    symmetric,
    well_conditioned,
)
from matdiff.calculus.rules import OP_RULES
from matdiff.functions import entries

N = 4  # matrices are N x N (or N x M), vectors of length N
M = 3


def mats(*names: str, n: int = N, m: int = N) -> Callable[[np.random.Generator], dict[str, Any]]:
    return lambda rng: {k: rng.standard_normal((n, m)) for k in names}


@dataclass
class Case:
    id: str
    expr: str
    wrt: str
    values: Callable[[np.random.Generator], dict[str, Any]]
    types: dict[str, str] | None = None
    rule: str = ""  # the entry of the table this case exercises
    extra: dict = field(default_factory=dict)


def V(**makers: Callable[[np.random.Generator], Any]) -> Callable[[np.random.Generator], dict[str, Any]]:
    """values(rng) from one maker per variable."""
    return lambda rng: {k: f(rng) for k, f in makers.items()}


def gauss(*shape: int) -> Callable[[np.random.Generator], Any]:
    if not shape:
        return lambda rng: float(rng.standard_normal())
    return lambda rng: rng.standard_normal(shape)


def pos(*shape: int) -> Callable[[np.random.Generator], Any]:
    if not shape:
        return lambda rng: float(rng.uniform(0.5, 2.0))
    return lambda rng: positive(rng, shape)


def nonzero(*shape: int) -> Callable[[np.random.Generator], Any]:
    return lambda rng: away_from_zero(rng, shape)


def distinct_spectrum(n: int) -> Callable[[np.random.Generator], Any]:
    """Q diag(1, 2, ..., n) Q': eigenvalue gaps of 1, so eigenvectors are well conditioned."""
    def make(rng: np.random.Generator) -> Any:
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        return (Q * np.arange(1.0, n + 1)) @ Q.T
    return make


def near_identity(n: int) -> Callable[[np.random.Generator], Any]:
    """I + E with ||E||_2 < 1/2: eigenvalues off the negative real axis (logm, sqrtm defined)."""
    def make(rng: np.random.Generator) -> Any:
        E = rng.standard_normal((n, n))
        return np.eye(n) + 0.4 * E / np.linalg.norm(E, 2)
    return make


def wc(n: int = N) -> Callable[[np.random.Generator], Any]:
    return lambda rng: well_conditioned(rng, n)


CASES = [
    # ----- functions (CALL_RULES)
    Case("tr", "tr(A*X)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="tr"),
    Case("tr-rect", "tr(A*X)", "X", V(A=gauss(M, N), X=gauss(N, M)), rule="tr"),
    Case("det", "det(X)", "X", V(X=wc()), rule="det"),
    Case("det-composite", "det(A*X + B)", "X", V(A=wc(), X=wc(), B=gauss(N, N)), rule="det"),
    Case("logdet", "logdet(X)", "X", V(X=lambda rng: positive_det(rng, N)), rule="logdet"),
    Case("logdet-spd", "logdet(S)", "S", V(S=lambda rng: spd(rng, N)), types={"S": "spd"}, rule="logdet"),
    Case("logdet-gram", "logdet(X'*X)", "X", V(X=gauss(N + 2, N)), rule="logdet"),
    Case("inv", "tr(A*inv(X))", "X", V(A=gauss(N, N), X=wc()), rule="inv"),
    Case("inv-bilinear", "x'*inv(X)*y", "X", V(x=gauss(N), y=gauss(N), X=wc()), rule="inv"),
    Case("adj", "tr(A*adj(X))", "X", V(A=gauss(N, N), X=wc()), rule="adj"),
    Case("adj-rank-n-1", "tr(A*adj(X))", "X", V(A=gauss(N, N), X=lambda rng: rng.standard_normal((N, N - 1))
                                                   @ rng.standard_normal((N - 1, N))), rule="adj"),
    Case("adj_d", "tr(B*adj_d(A, X))", "X", V(A=gauss(N, N), B=gauss(N, N), X=gauss(N, N)), rule="adj_d"),
    Case("norm_fro", "norm_fro(X)", "X", V(X=gauss(N, M)), rule="norm_fro"),
    Case("logsumexp", "logsumexp(A*X)", "X", V(A=gauss(N, N), X=gauss(N, M)), rule="logsumexp"),
    Case("logsumexp-vector", "logsumexp(x - 3*y)", "x", V(x=gauss(N), y=gauss(N)), rule="logsumexp"),
    Case("softmax", "y'*softmax(A*x)", "x", V(A=gauss(N, N), x=gauss(N), y=gauss(N)), rule="softmax"),
    Case("log-softmax", "y'*log(softmax(A*x))", "A", V(A=gauss(N, N), x=gauss(N), y=gauss(N)), rule="softmax"),
    Case("expm", "tr(A*expm(X))", "X", V(A=gauss(N, N), X=lambda rng: 0.5 * rng.standard_normal((N, N))), rule="expm"),
    Case("expm_d", "tr(B*expm_d(A, X))", "X", V(A=gauss(N, N), B=gauss(N, N), X=gauss(N, N)), rule="expm_d"),
    Case("expm_d2", "tr(B*expm_d2(A, C, X))", "X", V(A=gauss(N, N), B=gauss(N, N), C=gauss(N, N), X=gauss(N, N)),
         rule="expm_d2"),
    Case("logm", "tr(A*logm(X))", "X", V(A=gauss(N, N), X=near_identity(N)), rule="logm"),
    Case("logm-spd", "tr(A*logm(S))", "S", V(A=gauss(N, N), S=lambda rng: spd(rng, N)), types={"S": "spd"},
         rule="logm"),
    Case("logm_d", "tr(B*logm_d(P, X))", "X", V(B=gauss(N, N), P=near_identity(N), X=gauss(N, N)), rule="logm_d"),
    Case("logm_d2", "tr(B*logm_d2(P, X, C))", "X", V(B=gauss(N, N), C=gauss(N, N), P=near_identity(N),
                                                     X=gauss(N, N)), rule="logm_d2"),
    Case("sqrtm", "tr(A*sqrtm(X))", "X", V(A=gauss(N, N), X=near_identity(N)), rule="sqrtm"),
    Case("sqrtm_d", "tr(B*sqrtm_d(S, X))", "X", V(B=gauss(N, N), S=lambda rng: spd(rng, N), X=gauss(N, N)),
         types={"S": "spd"}, rule="sqrtm_d"),
    Case("sqrtm_d2", "tr(B*sqrtm_d2(P, C, X))", "X", V(B=gauss(N, N), C=gauss(N, N), P=near_identity(N),
                                                      X=gauss(N, N)), rule="sqrtm_d2"),
    Case("spd-power", "tr(A*S^1.5)", "S", V(A=gauss(N, N), S=lambda rng: spd(rng, N)), types={"S": "spd"},
         rule="Power"),
    Case("powm_d", "tr(B*powm_d(S, X, -0.5))", "X", V(B=gauss(N, N), S=lambda rng: spd(rng, N), X=gauss(N, N)),
         types={"S": "spd"}, rule="powm_d"),
    Case("powm_d2", "tr(B*powm_d2(S, C, X, 0.5))", "X", V(B=gauss(N, N), C=gauss(N, N), S=lambda rng: spd(rng, N),
                                                         X=gauss(N, N)), types={"S": "spd"}, rule="powm_d2"),
    Case("eigmax", "eigmax(S)", "S", V(S=lambda rng: spd(rng, N)), types={"S": "spd"}, rule="eigmax"),
    Case("eigvec_max", "(y'*eigvec_max(S))^2", "S", V(S=distinct_spectrum(N), y=gauss(N)), types={"S": "spd"},
         rule="eigvec_max"),
    Case("eigvec_min", "(y'*eigvec_min(A + A'))^2", "A", V(A=gauss(N, N), y=gauss(N)), rule="eigvec_min"),
    Case("eigmin", "eigmin(X'*X)", "X", V(X=gauss(N + 1, N)), rule="eigmin"),
    Case("eigvals", "y'*eigvals(A + A')", "A", V(A=gauss(N, N), y=gauss(N)), rule="eigvals"),
    Case("softplus", "sum(softplus(A*X))", "X", V(A=gauss(N, N), X=gauss(N, M)), rule="softplus"),
    Case("relu", "tr(B*relu(X))", "X", V(B=gauss(N, N), X=nonzero(N, N)), rule="relu"),
    Case(
        "norm_fro-composite",
        "norm_fro(A*X - B)",
        "X",
        V(A=gauss(N, N), X=gauss(N, M), B=gauss(N, M)),
        rule="norm_fro",
    ),
    Case("norm2-vector", "norm2(x - y)", "x", V(x=gauss(N), y=gauss(N)), rule="norm2"),
    Case("norm2-matrix", "norm2(X)", "X", V(X=lambda rng: distinct_singular_values(rng, N, M)), rule="norm2"),
    Case(
        "norm2-matrix-composite",
        "norm2(A*X)",
        "X",
        V(A=wc(), X=lambda rng: distinct_singular_values(rng, N, N)),
        rule="norm2",
    ),
    Case("norm_nuc-vector", "norm_nuc(x)", "x", V(x=gauss(N)), rule="norm_nuc"),
    Case(
        "norm_nuc-matrix",
        "norm_nuc(X)",
        "X",
        V(X=lambda rng: distinct_singular_values(rng, N, M)),
        rule="norm_nuc",
    ),
    Case("norm_nuc-matrix-composite", "norm_nuc(X*B)", "X", V(X=gauss(N, M), B=gauss(M, M)), rule="norm_nuc"),
    Case("norm1-matrix", "norm1(X)", "X", V(X=nonzero(N, M)), rule="norm1"),
    Case("norm1-vector", "norm1(x)", "x", V(x=nonzero(N)), rule="norm1"),
    Case("sum-matrix", "sum(A*X)", "X", V(A=gauss(M, N), X=gauss(N, M)), rule="sum"),
    Case("sum-vector", "sum(x .* y)", "x", V(x=gauss(N), y=gauss(N)), rule="sum"),
    Case("diag-matrix-to-vector", "x'*diag(X)", "X", V(x=gauss(N), X=gauss(N, N)), rule="diag"),
    Case("diag-vector-to-matrix", "x'*diag(v)*y", "v", V(x=gauss(N), y=gauss(N), v=gauss(N)), rule="diag"),
    Case("diag-vector-to-matrix-tr", "tr(A*diag(v))", "v", V(A=gauss(N, N), v=gauss(N)), rule="diag"),
    Case("exp-matrix", "sum(exp(X))", "X", V(X=gauss(N, M)), rule="exp"),
    Case("exp-bilinear", "x'*exp(X)*y", "X", V(x=gauss(N), y=gauss(M), X=gauss(N, M)), rule="exp"),
    Case("exp-scalar", "exp(a*b)", "a", V(a=gauss(), b=gauss()), rule="exp"),
    Case("log-vector", "y'*log(x)", "x", V(x=pos(N), y=gauss(N)), rule="log"),
    Case("log-matrix", "sum(log(X))", "X", V(X=pos(N, M)), rule="log"),
    Case("log-scalar", "log(x'*x)", "x", V(x=gauss(N)), rule="log"),
    Case("sin", "x'*sin(X)*y", "X", V(x=gauss(N), y=gauss(N), X=gauss(N, N)), rule="sin"),
    Case("cos", "x'*cos(X)*y", "X", V(x=gauss(N), y=gauss(N), X=gauss(N, N)), rule="cos"),
    Case("tanh", "x'*tanh(X)*y", "X", V(x=gauss(N), y=gauss(N), X=gauss(N, N)), rule="tanh"),
    Case("sigmoid", "x'*sigmoid(X)*y", "X", V(x=gauss(N), y=gauss(N), X=gauss(N, N)), rule="sigmoid"),
    Case("sqrt-matrix", "sum(sqrt(X))", "X", V(X=pos(N, M)), rule="sqrt"),
    Case("sqrt-scalar", "sqrt(x'*A*x)", "x", V(x=gauss(N), A=lambda rng: spd(rng, N)), rule="sqrt"),
    Case("abs", "sum(A .* abs(X))", "X", V(A=gauss(N, M), X=nonzero(N, M)), rule="abs"),
    Case("abs-scalar", "abs(x'*y)", "x", V(x=gauss(N), y=gauss(N)), rule="abs"),
    # ----- operators (OP_RULES)
    Case("add", "x'*(A + X)*y", "X", V(x=gauss(N), y=gauss(N), A=gauss(N, N), X=gauss(N, N)), rule="Add"),
    Case("add-twice", "tr(X + X'*A)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="Add"),
    Case("sub", "tr(A*(X - B))", "X", V(A=gauss(N, N), X=gauss(N, N), B=gauss(N, N)), rule="Add"),
    Case("neg", "-x'*X*y", "X", V(x=gauss(N), y=gauss(M), X=gauss(N, M)), rule="Neg"),
    Case("neg-inner", "tr(-X*A)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="Neg"),
    Case("scalar-product-wrt-scalar", "c*x'*y", "c", V(c=gauss(), x=gauss(N), y=gauss(N)), rule="MatMul"),
    Case("scalar-product-wrt-matrix", "a*tr(X)*tr(X)", "X", V(a=gauss(), X=gauss(N, N)), rule="MatMul"),
    Case(
        "scalar-times-matrix",
        "x'*(a*X)*y",
        "a",
        V(a=gauss(), x=gauss(N), y=gauss(M), X=gauss(N, M)),
        rule="MatMul",
    ),
    Case("matrix-product", "tr(X*A*X)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="MatMul"),
    Case("matrix-product-gram", "x'*X'*X*x", "X", V(x=gauss(M), X=gauss(N, M)), rule="MatMul"),
    Case("matrix-product-quadratic-vector", "x'*A*x", "x", V(x=gauss(N), A=gauss(N, N)), rule="MatMul"),
    Case("div-by-scalar", "tr(A*X)/b", "X", V(A=gauss(N, N), X=gauss(N, N), b=pos()), rule="Div"),
    Case("div-wrt-denominator", "tr(A*X)/b", "b", V(A=gauss(N, N), X=gauss(N, N), b=pos()), rule="Div"),
    Case("div-both", "tr(A*X)/norm_fro(X)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="Div"),
    Case("hdiv-numerator", "sum(X ./ A)", "X", V(A=nonzero(N, M), X=gauss(N, M)), rule="HDiv"),
    Case("hdiv-denominator", "sum(A ./ X)", "X", V(A=gauss(N, M), X=nonzero(N, M)), rule="HDiv"),
    Case("hdiv-vector", "y'*(x ./ (y .* y + 1))", "y", V(x=gauss(N), y=gauss(N)), rule="HDiv"),
    Case("hadamard", "sum(X .* X .* A)", "X", V(A=gauss(N, M), X=gauss(N, M)), rule="Hadamard"),
    Case(
        "hadamard-bilinear",
        "x'*(A .* X)*y",
        "X",
        V(x=gauss(N), y=gauss(N), A=gauss(N, N), X=gauss(N, N)),
        rule="Hadamard",
    ),
    Case("power-scalar-int", "(x'*x)^3", "x", V(x=gauss(N)), rule="Power"),
    Case("power-scalar-frac", "(x'*A*x)^0.5", "x", V(x=gauss(N), A=lambda rng: spd(rng, N)), rule="Power"),
    Case("power-scalar-neg", "tr(X)^-2", "X", V(X=lambda rng: spd(rng, N)), rule="Power"),
    Case("power-scalar-var", "a^3", "a", V(a=gauss()), rule="Power"),
    # integer powers of scalar products of vectors
    # (once a ShapeError: the power was distributed over x' and x)
    Case("power-inner-recip", "1/(x'*y)", "y", V(x=pos(N), y=pos(N)), rule="Power"),
    Case("power-rayleigh", "x'*A*x/(x'*x)", "x", V(x=gauss(N), A=gauss(N, N)), rule="Power"),
    Case(
        "power-inner-sqrt",
        "sqrt(1 + (x'*X*y)^2)",
        "X",
        V(x=gauss(N), y=gauss(N), X=gauss(N, N)),
        rule="Power",
    ),
    Case("power-inner-cube", "(a*x'*y)^3", "a", V(a=gauss(), x=gauss(N), y=gauss(N)), rule="Power"),
    Case("power-variable-exponent", "b^a", "a", V(a=gauss(), b=pos()), rule="Power"),
    Case("power-variable-both", "b^a", "b", V(a=gauss(), b=pos()), rule="Power"),
    Case("matrix-power-pos", "tr(A*X^3)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="Power"),
    Case("matrix-power-2", "x'*X^2*y", "X", V(x=gauss(N), y=gauss(N), X=gauss(N, N)), rule="Power"),
    Case("matrix-power-neg1", "x'*X^-1*y", "X", V(x=gauss(N), y=gauss(N), X=wc()), rule="Power"),
    Case("matrix-power-neg2", "tr(A*X^-2)", "X", V(A=gauss(N, N), X=wc()), rule="Power"),
    Case("epower-int", "sum(X .^ 3)", "X", V(X=gauss(N, M)), rule="EPower"),
    Case("epower-frac", "sum(A .* X .^ 1.5)", "X", V(A=gauss(N, M), X=pos(N, M)), rule="EPower"),
    Case("epower-neg", "y'*x .^ -1", "x", V(x=nonzero(N), y=gauss(N)), rule="EPower"),
    Case("epower-variable-exponent", "sum(P .^ X)", "X", V(P=pos(N, M), X=gauss(N, M)), rule="EPower"),
    Case("transpose", "tr(A*X')", "X", V(A=gauss(N, M), X=gauss(N, M)), rule="Transpose"),
    Case("transpose-bilinear", "x'*X'*y", "X", V(x=gauss(M), y=gauss(N), X=gauss(N, M)), rule="Transpose"),
    Case("eye", "tr((X + 2*eye)*A)", "X", V(A=gauss(N, N), X=gauss(N, N)), rule="Eye"),
    Case("eye-logdet", "logdet(eye + X'*X)", "X", V(X=gauss(N, M)), rule="Eye"),
    Case(
        "eye-charpoly", "det(x*eye - A)", "x", V(x=gauss(), A=gauss(N, N)), types={"x": "scalar"}, rule="Eye"
    ),
    Case("broadcast-vector", "sum(log(1 + exp(v)))", "v", V(v=gauss(N)), rule="Add"),
    Case("broadcast-bilinear", "x'*(1 + exp(v))", "v", V(x=gauss(N), v=gauss(N)), rule="Add"),
    Case(
        "broadcast-wrt-scalar",
        "x'*(a + X)*y",
        "a",
        V(a=gauss(), x=gauss(N), y=gauss(M), X=gauss(N, M)),
        {"a": "scalar"},  # declared: undeclared, a + X makes a a matrix (types from use)
        rule="Add",
    ),
    Case(
        "broadcast-matrix",
        "sum(exp(X - c) .* A)",
        "c",
        V(c=gauss(), X=gauss(N, M), A=gauss(N, M)),
        {"c": "scalar"},
        rule="Add",
    ),
    Case("number", "3*tr(X) + 7", "X", V(X=gauss(N, N)), rule="Num"),
    # symmetric and spd variables: symmetric directions
    Case(
        "symmetric-linear",
        "tr(A*S)",
        "S",
        V(A=gauss(N, N), S=lambda rng: symmetric(rng, N)),
        types={"S": "symmetric"},
        rule="tr",
    ),
    Case(
        "spd-inv",
        "tr(inv(S)*C)",
        "S",
        V(C=gauss(N, N), S=lambda rng: spd(rng, N)),
        types={"S": "spd"},
        rule="inv",
    ),
]

# id -> reason for cases that expose a known bug (strict xfail: remove the entry once fixed)
XFAIL: dict[str, str] = {}


def _param(c: Case):
    marks = []
    if c.id in XFAIL:
        marks.append(pytest.mark.xfail(reason=XFAIL[c.id], strict=True))
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_rule_gradient(case: Case, seed: int):
    rng = np.random.default_rng([seed, zlib.crc32(case.id.encode())])
    values = case.values(rng)
    check_gradient(case.expr, case.wrt, values, case.types, rng=rng, n_dirs=3)


def test_every_rule_of_the_table_has_a_case():
    """The table and this test stay in step: each rule (bar the result-only functions) is exercised."""
    covered = {c.rule for c in CASES}
    calls = {fn.name for fn in entries() if fn.rule and fn.rule[0]}  # polar/top_sv are derivatives already
    calls -= {"sign", "step"}  # derivatives of abs and relu, zero away from 0
    ops = {t.__name__ for t in OP_RULES} - {"Ones"}
    missing = (calls | ops) - covered
    assert not missing, f"no gradient test for the rules {sorted(missing)}"
