"""Extreme scales (issue 13, items 5 and 6): the right number, or a DomainError — never zeros.

Norms sqrt(sum x^2) must not overflow at entries ~1e300 nor underflow at ~1e-170 (the gradient A / ||A|| is ~1
there), and the adjugate (the gradient of det) must come out right at entries ~1e120 / ~1e-140 wherever it is
representable, although det(A) itself over- or underflows. References are exact: rational arithmetic on the very
floats given (``fractions``), rounded once at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import matdiff
from matdiff.errors import DomainError
from matdiff.runtime import factor as F
from matdiff.runtime import kernels as K

TINY = np.finfo(np.float64).tiny
HUGE = np.finfo(np.float64).max


# ------------------------------------------------------------------------------ exact references
def _exact_norm(X: np.ndarray) -> float:
    """sqrt(sum x^2) of the floats in X, correctly rounded (integer square root of the scaled exact sum)."""
    q = sum(Fraction(float(x)) ** 2 for x in np.ravel(X))
    if q == 0:
        return 0.0
    # sqrt(q) = sqrt(q 4^j) / 2^j with q 4^j an integer of > 120 bits: isqrt gives 60 correct bits
    j = max(0, 64 - (q.numerator.bit_length() - q.denominator.bit_length()) // 2)
    r = math.isqrt(q.numerator * 4**j // q.denominator)
    return math.ldexp(float(r), -j) if r < 2**1000 else float(Fraction(r, 2**j))


def _det(M: list[list[Fraction]]) -> Fraction:
    """The determinant by exact Gaussian elimination on rationals."""
    M = [row[:] for row in M]
    n, d = len(M), Fraction(1)
    for k in range(n):
        p = next((i for i in range(k, n) if M[i][k] != 0), None)
        if p is None:
            return Fraction(0)
        if p != k:
            M[k], M[p] = M[p], M[k]
            d = -d
        d *= M[k][k]
        for i in range(k + 1, n):
            f = M[i][k] / M[k][k]
            for j in range(k, n):
                M[i][j] -= f * M[k][j]
    return d


def _exact_adj(A: np.ndarray, E: np.ndarray | None = None, t: Fraction = Fraction(0)) -> list[list[Fraction]]:
    """adj(A + t E) exactly: adj_ij = (-1)^(i+j) det(A + tE without row j and column i)."""
    n = A.shape[0]
    M = [[Fraction(float(A[i, j])) + (t * Fraction(float(E[i, j])) if E is not None else 0) for j in range(n)]
         for i in range(n)]
    if n == 1:
        return [[Fraction(1)]]
    return [[(-1) ** (i + j) * _det([[M[r][c] for c in range(n) if c != i] for r in range(n) if r != j])
             for j in range(n)] for i in range(n)]


def _exact_adj_d(A: np.ndarray, E: np.ndarray) -> list[list[Fraction]]:
    """adj'(A)[E] exactly: adj(A + tE) is a polynomial of degree n-1 in t; its derivative at 0 from its values at
    t = 0..n-1 (Lagrange: p'(0) = sum_j p(t_j) L_j'(0))."""
    n = A.shape[0]
    ts = [Fraction(j) for j in range(n)]
    out = [[Fraction(0)] * n for _ in range(n)]
    for j, tj in enumerate(ts):
        # L_j(t) = prod_{m != j} (t - t_m) / (t_j - t_m); L_j'(0) = sum_k prod_{m != j, k} (-t_m) / prod (t_j - t_m)
        den = math.prod((tj - tm for m, tm in enumerate(ts) if m != j), start=Fraction(1))
        dl = sum((math.prod((-tm for m, tm in enumerate(ts) if m not in (j, k)), start=Fraction(1))
                  for k in range(n) if k != j), start=Fraction(0)) / den
        P = _exact_adj(A, E, tj)
        for a in range(n):
            for b in range(n):
                out[a][b] += dl * P[a][b]
    return out


def _to_float(M: list[list[Fraction]]) -> tuple[np.ndarray, float]:
    """(M rounded to floats (inf where beyond range), the largest |entry| as a float, inf/0 when out of range)."""
    big = max(abs(x) for row in M for x in row)
    try:
        top = float(big)
    except OverflowError:
        top = math.inf
    if not math.isfinite(top):
        return np.full((len(M), len(M)), np.inf), math.inf
    return np.array([[float(x) for x in row] for row in M]), top


def _matrix(n: int, seed: int) -> np.ndarray:
    """A random well conditioned n x n matrix at unit scale."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) + n * np.eye(n)


# ------------------------------------------------------------------------------- norms: kernels
@pytest.mark.parametrize("scale", [1e300, 2.0**1000, 1e-170, 2.0**-570, 1e-155, 1.0, 1e200])
@pytest.mark.parametrize("shape", [(3, 4), (7,), (1, 5)])
def test_norm_fro_kernel_is_right_at_every_scale(scale: float, shape: tuple[int, ...]) -> None:
    X = np.random.default_rng(1).standard_normal(shape) * scale
    want = _exact_norm(X)
    got = K.norm_fro(X)
    assert math.isclose(got, want, rel_tol=1e-15), (got, want)
    assert isinstance(got, np.floating)


def test_norm_fro_kernel_common_path_is_numpys() -> None:
    X = np.random.default_rng(2).standard_normal((5, 6))
    assert K.norm_fro(X) == np.linalg.norm(X)  # bitwise: no rescaling where nothing over/underflows


def test_norm_fro_kernel_zero_nan_and_overflow() -> None:
    assert K.norm_fro(np.zeros((2, 3))) == 0
    assert np.isnan(K.norm_fro(np.array([1.0, np.nan])))
    # the norm itself beyond float64's range: refused, never a silent inf (x / inf would be zeros)
    with pytest.raises(DomainError):
        K.norm_fro(np.full(4, 1.5e308))
    assert K.norm_fro(np.array([HUGE, 0.0])) == HUGE


def test_norm_fro_kernel_complex() -> None:
    z = (np.arange(1, 7) + 1j * np.arange(6, 0, -1)).reshape(2, 3)
    for s in (2.0**1000, 2.0**-600):
        assert math.isclose(K.norm_fro(z * s) / s, np.linalg.norm(z), rel_tol=1e-15)
        # the complex-step form: sqrt(sum z^2), no conjugate
        want = np.sqrt(np.sum(z * z))
        assert abs(K.norm_fro_bilinear(z * s) / s - want) <= 4e-16 * abs(want)


@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_vector_norm_kernels(scale: float) -> None:
    x = np.random.default_rng(3).standard_normal(6)
    u = x / np.linalg.norm(x)
    assert math.isclose(K.norm2(x * scale), _exact_norm(x * scale), rel_tol=1e-15)
    assert math.isclose(K.norm_nuc(x * scale), _exact_norm(x * scale), rel_tol=1e-15)
    np.testing.assert_allclose(K.top_sv(x * scale), u, rtol=1e-15)
    np.testing.assert_allclose(K.polar((x * scale)[:, None]), u[:, None], rtol=1e-15)


# ------------------------------------------------------------------------------ norms: evaluate and compile
def _run(r: Any, how: str, values: dict[str, Any]) -> np.ndarray:
    return r.evaluate(values) if how == "evaluate" else r.compile()(**values)


@pytest.mark.parametrize("how", ["evaluate", "compile"])
@pytest.mark.parametrize("scale", [1e300, 1e-170, 1e-160])
def test_grad_norm_fro_at_extreme_scales(how: str, scale: float) -> None:
    A = np.random.default_rng(4).standard_normal((3, 4)) * scale
    r = matdiff.grad("norm_fro(A)", wrt="A")
    got = _run(r, how, {"A": A})
    want = A / _exact_norm(A)  # entries ~0.5 (x / ||x|| is exact to 1 ulp once the norm is)
    np.testing.assert_allclose(got, want, rtol=2e-15, atol=0)


@pytest.mark.parametrize("how", ["evaluate", "compile"])
@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_grad_norm2_of_vector_at_extreme_scales(how: str, scale: float) -> None:
    x = np.random.default_rng(5).standard_normal(5) * scale
    r = matdiff.grad("norm2(x)", wrt="x")
    np.testing.assert_allclose(_run(r, how, {"x": x}), x / _exact_norm(x), rtol=2e-15, atol=0)


@pytest.mark.parametrize("scale", [1e300, 1e-170])
def test_value_of_norms_at_extreme_scales(scale: float) -> None:
    A = np.random.default_rng(6).standard_normal((3, 3)) * scale
    x = A[:, 0]
    assert math.isclose(matdiff.evaluate("norm_fro(A)", {"A": A}), _exact_norm(A), rel_tol=1e-15)
    assert math.isclose(matdiff.evaluate("norm2(x)", {"x": x}), _exact_norm(x), rel_tol=1e-15)
    # the spectral and nuclear norms of a matrix come from the SVD, which LAPACK scales itself
    assert math.isclose(matdiff.evaluate("norm2(A)", {"A": A}) / scale, np.linalg.norm(A / scale, 2), rel_tol=1e-14)
    assert math.isclose(matdiff.evaluate("norm_nuc(A)", {"A": A}) / scale, np.linalg.norm(A / scale, "nuc"),
                        rel_tol=1e-14)


# ----------------------------------------------------------------------------------- adjugate / grad det
SCALES = [1e120, 1e-140, 2.0**399, 2.0**-465, 1e-160]


def _check_adj_like(got_fn: Callable[[], Any], exact: list[list[Fraction]], tol: float = 1e-13,
                    kernel: bool = False) -> None:
    """got_fn() equals the exact matrix (relative to its largest entry) where that is a normal float. Else it is
    refused: a DomainError, or (``kernel``: the kernels leave overflow to the caller's finiteness check) entries
    that are not finite where the result overflows; never zeros or subnormal garbage."""
    want, top = _to_float(exact)
    if not TINY <= top <= HUGE:
        try:
            got = got_fn()
        except DomainError:
            return
        assert kernel and top > HUGE and not np.all(np.isfinite(got)), (
            f"expected a refusal (largest entry {top:.3g}), got {got}")
        return
    got = got_fn()
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - want)) <= tol * top, (got, want)


@pytest.mark.parametrize("how", ["evaluate", "compile"])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_grad_det_at_extreme_scales(how: str, scale: float, n: int) -> None:
    A = _matrix(n, seed=10 + n) * scale
    r = matdiff.grad("det(A)", wrt="A")
    exact = _exact_adj(A)
    exact_t = [list(col) for col in zip(*exact)]  # the gradient is adj(A)'
    _check_adj_like(lambda: _run(r, how, {"A": A}), exact_t)


@pytest.mark.parametrize("scale", [2.0**399, 2.0**-465])
def test_grad_det_of_spd_at_extreme_scales(scale: float) -> None:
    B = _matrix(3, seed=7)
    S = (B @ B.T) * scale
    r = matdiff.grad("det(S)", wrt="S", types={"S": "spd"})
    exact = _exact_adj(S)
    for how in ("evaluate", "compile"):
        _check_adj_like(lambda how=how: _run(r, how, {"S": S}), exact)


def test_det_itself_overflows_to_a_domain_error() -> None:
    A = _matrix(3, seed=1) * 1e120
    with pytest.raises(DomainError):
        matdiff.evaluate("det(A)", {"A": A})


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_adj_kernels_at_extreme_scales(scale: float, n: int) -> None:
    A = _matrix(n, seed=20 + n) * scale
    exact = _exact_adj(A)
    _check_adj_like(lambda: K.adj(A), exact, kernel=True)
    _check_adj_like(lambda: F.adj(F.lu(A)), exact, kernel=True)


@pytest.mark.parametrize("scale", [2.0**399, 2.0**-300, 1e120, 1e-140])
def test_adj_of_a_singular_matrix_at_extreme_scales(scale: float) -> None:
    """The SVD branch (rank n-1: the adjugate is the rank-1 limit) with the scale taken out of the products."""
    B = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])  # rank 2
    A = B * scale
    exact = _exact_adj(A)
    _check_adj_like(lambda: K.adj(A), exact, tol=1e-12, kernel=True)
    _check_adj_like(lambda: F.adj(F.lu(A)), exact, tol=1e-12, kernel=True)


@pytest.mark.parametrize("scale", [1e120, 1e-140, 2.0**300, 2.0**-400])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_adj_d_at_extreme_scales(scale: float, n: int) -> None:
    A = _matrix(n, seed=30 + n) * scale
    E = np.random.default_rng(40 + n).standard_normal((n, n))  # adj'(A)[E] ~ scale^(n-2), det(A) ~ scale^n
    exact = _exact_adj_d(A, E)
    _check_adj_like(lambda: K.adj_d(A, E), exact, kernel=True)
    _check_adj_like(lambda: F.adj_d(F.lu(A), E), exact, kernel=True)
    S = A @ A.T / scale  # spd, ~scale: the Cholesky path of factor.adj_d
    ES = E + E.T
    _check_adj_like(lambda: F.adj_d(F.chol(S), ES), _exact_adj_d(S, ES), kernel=True)


@pytest.mark.parametrize("scale", [2.0**300, 2.0**-400])
def test_adj_d_svd_branch_at_extreme_scales(scale: float) -> None:
    B = np.array([[1.0, 2.0, 3.0, 1.0], [4.0, 5.0, 6.0, 0.0], [7.0, 8.0, 9.0, 1.0], [0.0, 1.0, 0.0, 2.0]])
    B[2] = B[0] + B[1]  # rank 3: the SVD branch
    E = np.random.default_rng(0).standard_normal((4, 4))
    A = B * scale
    _check_adj_like(lambda: K.adj_d(A, E), _exact_adj_d(A, E), tol=1e-12, kernel=True)


@pytest.mark.parametrize("scale", [1e120, 1e-140])
def test_derivative_of_adj_at_extreme_scales(scale: float) -> None:
    """adj'(A)[E] through the public derivative (the AdjD node), evaluated and compiled."""
    n = 4
    A = _matrix(n, seed=50) * scale
    E = np.random.default_rng(51).standard_normal((n, n))
    d = matdiff.derivative("adj(A)", wrt="A")
    _check_adj_like(lambda: d.jvp({"A": A}, E), _exact_adj_d(A, E))


@pytest.mark.parametrize("scale", [1e120, 1e-140])
def test_tr_adj_at_extreme_scales(scale: float) -> None:
    A = _matrix(3, seed=60) * scale
    exact = _exact_adj(A)
    tr = sum(exact[i][i] for i in range(3))
    assert math.isclose(K.tr_adj(A), float(tr), rel_tol=1e-13)


# ------------------------------------------------- products far from unit scale (found by the fuzzer)
_C2 = np.array([[1.3147, 0.7973], [-0.7363, 1.0076]])
_C3 = np.array([[-0.3518, -0.1695, 0.7728], [0.762, -0.6569, 0.4576], [-0.5102, -0.8179, -0.3907]])


@pytest.mark.parametrize("s", [1e200, 1e-200, 1e150])
@pytest.mark.parametrize("C", [_C2, _C3], ids=["2x2", "3x3"])
def test_adjugate_derivative_far_from_unit_scale(C: np.ndarray, s: float) -> None:
    """∇ tr(adj(C)) = adj_d(C', eye) is of degree n-2: X E X (~s^-2) must not underflow on the way."""
    n = C.shape[0]
    r = matdiff.grad("tr(adj(C))", wrt="C")
    want = r.evaluate({"C": C}) * s ** (n - 2)
    atol = 1e-12 * np.max(np.abs(want))  # rounding of the entries that are 0
    np.testing.assert_allclose(r.evaluate({"C": s * C}), want, rtol=1e-10, atol=atol)
    np.testing.assert_allclose(r.compile()(C=s * C), want, rtol=1e-10, atol=atol)


def test_product_of_inverses_with_a_scalar_at_large_scale() -> None:
    """-a*inv(A)'*inv(A)' at A, a ~ 1e200 is ~1e-200; inv(A)'*inv(A)' alone (~1e-400) underflows."""
    s = 1e200
    X = np.linalg.inv(_C3)
    a = -1.1047
    want = -a * (X.T @ X.T) / s
    r = matdiff.grad("tr(inv(A)) .* a", wrt="A", types={"a": "scalar"})
    values = {"A": s * _C3, "a": a * s}
    np.testing.assert_allclose(r.evaluate(values), want, rtol=1e-10)
    np.testing.assert_allclose(r.compile()(**values), want, rtol=1e-10)
    _, grads = matdiff.compile("tr(inv(A)) .* a", wrt=["A"], types={"a": "scalar"})(**values)
    np.testing.assert_allclose(grads["A"], want, rtol=1e-10)


def test_a_true_zero_stays_zero() -> None:
    """The interpreter's second look at a result that is 0 throughout keeps a true 0."""
    r = matdiff.grad("tr(X'*X) - tr(X*X')", wrt="X")
    X = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(r.compile()(X=X), np.zeros((2, 3)))
