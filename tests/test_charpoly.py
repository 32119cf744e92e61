"""Tests of matdiff.charpoly against numpy polynomials, exact eigenvalues and finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matdiff.charpoly import CharPoly, charpoly
from matdiff.errors import DomainError, ShapeError


def unimodular(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An integer matrix P with det 1 and its exact integer inverse."""
    L = np.tril(rng.integers(-2, 3, (n, n)), -1) + np.eye(n, dtype=int)
    U = np.triu(rng.integers(-2, 3, (n, n)), 1) + np.eye(n, dtype=int)
    P = L @ U
    Pinv = np.rint(np.linalg.inv(P)).astype(int)
    assert (P @ Pinv == np.eye(n, dtype=int)).all()
    return P, Pinv


def similar_integer(rng: np.random.Generator, eigenvalues: list[int]) -> np.ndarray:
    """An integer (non-diagonal) matrix with exactly the given integer eigenvalues: P D P^-1."""
    P, Pinv = unimodular(rng, len(eigenvalues))
    return (P @ np.diag(eigenvalues) @ Pinv).astype(float)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2024)


# ---------------------------------------------------------------- p, coefficients, derivative


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_p_matches_np_poly(rng, n):
    A = rng.standard_normal((n, n))
    cp = charpoly(A)
    coeffs = np.poly(A)
    np.testing.assert_allclose(cp.coefficients(), coeffs)
    for x in rng.uniform(-3, 3, 5):
        assert cp.p(x) == pytest.approx(np.polyval(coeffs, x), rel=1e-10, abs=1e-12)
        assert cp(x) == cp.p(x)
        assert isinstance(cp(x), float)
    xs = rng.uniform(-3, 3, 7)
    np.testing.assert_allclose(cp(xs), np.polyval(coeffs, xs), rtol=1e-10, atol=1e-12)
    z = 0.3 - 1.1j
    assert isinstance(cp(z), complex)
    assert cp(z) == pytest.approx(np.polyval(coeffs, z), rel=1e-10)
    zs = np.array([0.5 + 1j, -1 - 2j])
    np.testing.assert_allclose(cp(zs), np.polyval(coeffs, zs), rtol=1e-10)


def test_p_complex_matrix(rng):
    A = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    cp = charpoly(A)
    for x in (0.7, 1 - 1j):
        assert cp(x) == pytest.approx(np.polyval(np.poly(A), x), rel=1e-10)
        assert cp.derivative(x) == pytest.approx(np.polyval(np.polyder(np.poly(A)), x), rel=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_derivative_matches_polyder(rng, n):
    A = rng.standard_normal((n, n))
    cp = charpoly(A)
    dcoeffs = np.polyder(np.poly(A))
    for x in rng.uniform(-3, 3, 6):
        assert cp.derivative(x) == pytest.approx(np.polyval(dcoeffs, x), rel=1e-10, abs=1e-12)
        assert cp.jacobi_naive(x) == pytest.approx(np.polyval(dcoeffs, x), rel=1e-8, abs=1e-10)
    xs = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(cp.derivative(xs), np.polyval(dcoeffs, xs), rtol=1e-10, atol=1e-12)


def test_derivative_exactly_at_eigenvalues(rng):
    lam = [-3, -1, 2, 5]
    A = similar_integer(rng, lam)
    assert not np.allclose(A, np.diag(np.diag(A)))  # a genuinely non-diagonal matrix
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(A).real), lam, atol=1e-8)
    cp = charpoly(A)
    scale = np.linalg.norm(A, 2) ** (len(lam) - 1)
    for k, lk in enumerate(lam):
        # p(x) = prod (x - l_j), so p'(l_k) = prod_{j != k} (l_k - l_j)
        exact = math.prod(lk - lj for j, lj in enumerate(lam) if j != k)
        assert abs(cp(float(lk))) <= 1e-12 * scale
        assert cp.derivative(float(lk)) == pytest.approx(exact, rel=1e-9)
        naive = cp.jacobi_naive(float(lk))  # 0 * inf or noise there, but it must not raise
        assert isinstance(naive, float)


def test_jacobi_naive_is_nan_at_an_exactly_singular_shift():
    cp = charpoly(np.diag([1.0, 2.0, 4.0]))
    with np.errstate(all="raise"):
        assert math.isnan(cp.jacobi_naive(2.0))
    assert cp.derivative(2.0) == pytest.approx((2 - 1) * (2 - 4))


def test_derivative_at_a_double_eigenvalue_is_zero(rng):
    cp = charpoly(np.diag([2.0, 2.0, 3.0]))
    assert cp.derivative(2.0) == 0.0  # tr(adj(diag(0, 0, -1))) = 0
    assert cp.derivative(3.0) == pytest.approx(1.0)
    A = similar_integer(rng, [2, 2, 3])
    scale = np.linalg.norm(A, 2) ** 2
    assert abs(charpoly(A).derivative(2.0)) <= 1e-12 * scale


# ---------------------------------------------------------------- Newton


def test_newton_real_start_gives_a_real_eigenvalue():
    A = np.random.default_rng(0).standard_normal((4, 4))
    cp = charpoly(A)
    ev = np.linalg.eigvals(A)
    x = cp.newton(5.0)
    assert isinstance(x, float)
    assert np.min(np.abs(ev - x)) < 1e-10
    path = cp.newton_path(5.0)
    assert path[0] == 5.0 and path[-1] == x
    errors = [abs(p - x) for p in path[:-1]]
    assert errors[-3] < 1e-4 and errors[-2] < 1e-9  # quadratic convergence at the end


def test_newton_exact_integer_eigenvalues(rng):
    A = similar_integer(rng, [-3, -1, 2, 5])
    cp = charpoly(A)
    for x0, lam in [(-4.0, -3.0), (6.0, 5.0), (2.3, 2.0)]:
        assert cp.newton(x0) == pytest.approx(lam, abs=1e-10)


def test_newton_complex_start_gives_a_complex_eigenvalue(rng):
    # a scaled rotation in a similarity: eigenvalues 0.5 +- 1.5i, and 2
    B = np.array([[0.5, -1.5, 0.0], [1.5, 0.5, 0.0], [0.0, 0.0, 2.0]])
    Q = rng.standard_normal((3, 3))
    A = Q @ B @ np.linalg.inv(Q)
    cp = charpoly(A)
    x = cp.newton(1 + 1j)
    assert isinstance(x, complex)
    assert abs(x - (0.5 + 1.5j)) < 1e-10
    assert np.min(np.abs(np.linalg.eigvals(A) - x)) < 1e-10
    assert abs(cp.newton(0.5 - 2j) - (0.5 - 1.5j)) < 1e-10
    # a real start on the same matrix finds the real eigenvalue and stays real
    assert cp.newton(3.0) == pytest.approx(2.0, abs=1e-10)


def test_newton_complex_matrix(rng):
    A = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    x = charpoly(A).newton(0.0)  # real start, complex matrix: iterates become complex
    assert isinstance(x, complex)
    assert np.min(np.abs(np.linalg.eigvals(A) - x)) < 1e-10


def test_newton_exact_hit_returns_immediately():
    cp = charpoly(np.diag([2.0, 2.0, 3.0]))
    assert cp.newton_path(2.0) == [2.0]  # p(2) == 0 exactly, although p'(2) == 0 too


def test_newton_zero_derivative_raises():
    cp = charpoly(np.diag([1.0, 3.0]))  # p(x) = (x-1)(x-3), p'(2) = 0, p(2) = -1
    with pytest.raises(DomainError, match=r"p'\(x\) = 0 at iterate 0 \(x = 2.0"):
        cp.newton(2.0)


def test_newton_no_convergence_raises():
    cp = charpoly(np.array([[0.0, -1.0], [1.0, 0.0]]))  # eigenvalues +-i: a real start cannot converge
    with pytest.raises(DomainError, match=r"no convergence in 50 iterations: last iterate x = .*, last step"):
        cp.newton(0.3, maxiter=50)
    with pytest.raises(DomainError, match="no convergence in 2 iterations"):
        charpoly(np.random.default_rng(0).standard_normal((4, 4))).newton(50.0, maxiter=2)


# ---------------------------------------------------------------- the seed-page experiment


def test_seed_page_finite_differences_vs_jacobi():
    A = np.random.default_rng(0).standard_normal((4, 4))
    cp = charpoly(A)
    x = 5.0
    d = cp.derivative(x)
    assert d == pytest.approx(np.polyval(np.polyder(np.poly(A)), x), rel=1e-13)

    h = 1e-8
    forward = (cp(x + h) - cp(x)) / h
    err_forward = abs(forward - d) / abs(d)
    assert 1e-11 < err_forward < 1e-6  # truncation O(h) plus rounding eps/h: around 1e-8

    h = np.finfo(float).eps ** (1 / 3)
    central = (cp(x + h) - cp(x - h)) / (2 * h)
    err_central = abs(central - d) / abs(d)
    assert err_central < 1e-8
    assert err_central < err_forward

    h = 1e-20
    complex_step = cp(x + 1j * h).imag / h  # no subtraction, so no cancellation
    assert abs(complex_step - d) / abs(d) < 1e-13


# ---------------------------------------------------------------- construction


def test_shape_errors_and_repr():
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        charpoly(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        charpoly(np.ones(4))
    with pytest.raises(ShapeError):
        charpoly(np.ones((3, 3))).p(np.ones((2, 2)))
    cp = charpoly(np.eye(4))
    assert isinstance(cp, CharPoly)
    assert "n=4" in repr(cp)


def test_matrix_is_copied_and_read_only():
    A = np.eye(2)
    cp = charpoly(A)
    A[0, 0] = 5.0
    assert cp(1.0) == 0.0
    with pytest.raises(ValueError):
        cp.A[0, 0] = 3.0
