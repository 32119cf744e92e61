"""Tests of matdiff.runtime.kernels against numpy/scipy, exact integer arithmetic and finite differences."""

from __future__ import annotations

import warnings
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from matdiff.errors import DomainError, MatdiffError, ShapeError
from matdiff.runtime import kernels as K

# ---------------------------------------------------------------- helpers


def exact_det(M) -> Fraction:
    """The determinant of an integer (or Fraction) matrix by Gaussian elimination in exact arithmetic."""
    a = [
        [Fraction(int(v)) if not isinstance(v, Fraction) else v for v in row]
        for row in np.asarray(M).tolist()
    ]
    n = len(a)
    d = Fraction(1)
    for k in range(n):
        p = next((i for i in range(k, n) if a[i][k] != 0), None)
        if p is None:
            return Fraction(0)
        if p != k:
            a[k], a[p] = a[p], a[k]
            d = -d
        d *= a[k][k]
        for i in range(k + 1, n):
            f = a[i][k] / a[k][k]
            for j in range(k, n):
                a[i][j] -= f * a[k][j]
    return d


def minor(A: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.delete(np.delete(A, i, axis=0), j, axis=1)


def cofactor_adj(A: np.ndarray, det=exact_det) -> np.ndarray:
    """adj(A)[j, i] = (-1)^(i+j) det(A without row i and column j), by brute force."""
    n = A.shape[0]
    out = np.zeros((n, n), dtype=complex if np.iscomplexobj(A) else float)
    for i in range(n):
        for j in range(n):
            d = det(minor(A, i, j))
            out[j, i] = (-1) ** (i + j) * (float(d) if isinstance(d, Fraction) else d)
    return out


def principal_minor_sum(A: np.ndarray, det=exact_det):
    return sum(det(minor(A, i, i)) for i in range(A.shape[0]))


def integer_rank(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """An n x n integer matrix of rank exactly r (checked exactly)."""
    while True:
        A = rng.integers(-4, 5, (n, r)) @ rng.integers(-4, 5, (r, n))
        adj_nonzero = any(exact_det(minor(A, i, j)) != 0 for i in range(n) for j in range(n))
        if r == n - 1 and not adj_nonzero:
            continue  # accidentally of lower rank
        if r == n - 2 and exact_det(A[: n - 2, : n - 2]) == 0:
            continue  # make sure the rank is n-2, not lower
        return A.astype(float)


def num_grad(f, X: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar f at X by central differences, entry by entry."""
    G = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (f(X + E) - f(X - E)) / (2 * h)
    return G


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(params=["lu", "svd"])
def branch(request, monkeypatch):
    """Run a test with adj/tr_adj forced through either branch (LU pivot ratio 0 -> LU; 1 -> always SVD)."""
    monkeypatch.setattr(K, "_ADJ_LU_MIN_PIVOT_RATIO", 0.0 if request.param == "lu" else 1.0)
    return request.param


# ---------------------------------------------------------------- adj


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_adj_equals_det_inv_when_invertible(rng, n):
    for _ in range(5):
        A = rng.standard_normal((n, n))
        assert np.linalg.cond(A) < 1e4
        expected = np.linalg.det(A) * np.linalg.inv(A)
        np.testing.assert_allclose(K.adj(A), expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("n", [2, 3, 5])
def test_adj_both_branches_agree_on_random_matrices(rng, branch, n):
    for A in (rng.standard_normal((n, n)), rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))):
        expected = np.linalg.det(A) * np.linalg.inv(A)
        np.testing.assert_allclose(K.adj(A), expected, rtol=0, atol=1e-12 * np.abs(expected).max())
        assert K.tr_adj(A) == pytest.approx(np.trace(expected), rel=1e-12)


@pytest.mark.parametrize("n", [3, 4, 5, 6])
@pytest.mark.parametrize("drop", [1, 2])
def test_adj_at_exactly_singular_integer_matrices(rng, n, drop):
    for _ in range(3):
        A = integer_rank(rng, n, n - drop)
        expected = cofactor_adj(A)
        got = K.adj(A)
        assert np.isfinite(got).all()
        scale = np.linalg.norm(A, 2) ** (n - 1)  # adj is homogeneous of degree n-1
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * scale)
        if drop == 1:
            assert np.linalg.matrix_rank(expected) == 1  # rank n-1 -> rank-1 adjugate
            assert np.abs(expected).max() >= 1
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
        else:
            assert not expected.any()  # rank <= n-2 -> adj = 0


def test_adj_singular_both_branches(branch):
    A = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])  # rank 2
    expected = cofactor_adj(A)  # [[-3, 6, -3], [6, -12, 6], [-3, 6, -3]]
    np.testing.assert_allclose(K.adj(A), expected, atol=1e-12)
    assert K.tr_adj(A) == pytest.approx(-18.0, abs=1e-12)


def test_adj_complex(rng):
    n = 4
    A = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    np.testing.assert_allclose(K.adj(A), np.linalg.det(A) * np.linalg.inv(A), rtol=1e-12, atol=1e-12)
    # complex of rank n-1: compare with cofactors
    B = (rng.standard_normal((n, n - 1)) + 1j * rng.standard_normal((n, n - 1))) @ (
        rng.standard_normal((n - 1, n)) + 1j * rng.standard_normal((n - 1, n))
    )
    expected = cofactor_adj(B, det=np.linalg.det)
    got = K.adj(B)
    assert got.dtype == np.complex128
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert np.linalg.matrix_rank(got, tol=1e-8 * np.abs(got).max()) == 1


def test_adj_one_by_one():
    for a in (5.0, -0.25, 0.0):
        np.testing.assert_array_equal(K.adj(np.array([[a]])), [[1.0]])
        assert K.tr_adj(np.array([[a]])) == 1.0
    np.testing.assert_array_equal(K.adj(np.array([[2 + 1j]])), [[1.0]])


def test_adj_shape_error():
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        K.adj(np.zeros((2, 3)))


def test_adj_integer_input_is_converted():
    np.testing.assert_allclose(K.adj(np.array([[1, 2], [3, 4]])), [[4.0, -2.0], [-3.0, 1.0]])


def _check_det_gradient(A: np.ndarray, rng: np.random.Generator, h: float = 1e-5) -> None:
    """d det(A)[E] = tr(adj(A) E), checked by central differences for random directions E."""
    G = K.adj(A)
    for _ in range(5):
        E = rng.standard_normal(A.shape)
        fd = (np.linalg.det(A + h * E) - np.linalg.det(A - h * E)) / (2 * h)
        exact = np.trace(G @ E)
        assert exact == pytest.approx(fd, rel=1e-7, abs=1e-7 * np.linalg.norm(A) ** (A.shape[0] - 1))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_adj_is_the_gradient_of_det(rng, n):
    _check_det_gradient(rng.standard_normal((n, n)), rng)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_adj_is_the_gradient_of_det_at_a_singular_matrix(rng, n):
    A = integer_rank(rng, n, n - 1)
    with pytest.raises(DomainError, match="singular"):  # the det * inv form is not available here
        K.inv(A)
    assert np.abs(K.adj(A)).max() >= 1  # and the gradient is not 0
    _check_det_gradient(A, rng)


# ---------------------------------------------------------------- tr_adj


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_tr_adj_is_the_sum_of_principal_minors(rng, n):
    A = rng.standard_normal((n, n))
    assert K.tr_adj(A) == pytest.approx(principal_minor_sum(A, det=np.linalg.det), rel=1e-12)
    Z = A + 1j * rng.standard_normal((n, n))
    t = K.tr_adj(Z)
    assert isinstance(t, complex)
    assert t == pytest.approx(principal_minor_sum(Z, det=np.linalg.det), rel=1e-12)
    for drop in (1, 2):
        if n - drop < 1:
            continue
        S = integer_rank(rng, n, n - drop)
        expected = float(principal_minor_sum(S))
        scale = np.linalg.norm(S, 2) ** (n - 1)
        assert K.tr_adj(S) == pytest.approx(expected, abs=1e-13 * scale)
        assert K.tr_adj(S) == pytest.approx(np.trace(cofactor_adj(S)), abs=1e-13 * scale)


def test_tr_adj_returns_float_for_real(rng):
    assert isinstance(K.tr_adj(rng.standard_normal((3, 3))), float)


# ---------------------------------------------------------------- top_sv / polar / norms


def test_top_sv_is_the_gradient_of_the_spectral_norm(rng):
    for shape in [(4, 3), (3, 5), (4, 4)]:
        X = rng.standard_normal(shape)
        np.testing.assert_allclose(K.top_sv(X), num_grad(K.norm2, X), rtol=0, atol=1e-8)


@pytest.mark.parametrize("shape", [(5, 1), (1, 5), (5,), (1, 1)])
def test_top_sv_vector(rng, shape):
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(K.top_sv(x), x / np.linalg.norm(x))
    np.testing.assert_allclose(K.top_sv(x), num_grad(K.norm2, x), atol=1e-8)


def test_top_sv_domain_errors():
    with pytest.raises(DomainError, match="repeated"):
        K.top_sv(np.eye(3))
    with pytest.raises(DomainError, match="repeated"):
        K.top_sv(np.diag([2.0, 2.0 * (1 - 1e-10), 1.0]))
    with pytest.raises(DomainError, match="X = 0"):
        K.top_sv(np.zeros((3, 2)))
    with pytest.raises(DomainError, match="X = 0"):
        K.top_sv(np.zeros((3, 1)))
    K.top_sv(np.diag([2.0, 1.9, 1.0]))  # a clear gap is fine


def test_polar_is_the_gradient_of_the_nuclear_norm(rng):
    for shape in [(4, 3), (3, 5), (4, 4)]:
        X = rng.standard_normal(shape)
        P = K.polar(X)
        np.testing.assert_allclose(P, num_grad(K.norm_nuc, X), rtol=0, atol=1e-8)
        k = min(shape)
        np.testing.assert_allclose(P.T @ P if shape[0] >= shape[1] else P @ P.T, np.eye(k), atol=1e-12)


def test_polar_vector_and_domain_errors(rng):
    x = rng.standard_normal((4, 1))
    np.testing.assert_allclose(K.polar(x), x / np.linalg.norm(x))
    with pytest.raises(DomainError, match="rank deficient"):
        K.polar(np.outer([1.0, 2, 3], [1.0, -1, 2]))  # rank 1
    with pytest.raises(DomainError, match="rank deficient"):
        K.polar(np.array([[1.0, 2], [2, 4], [0, 0]]))
    with pytest.raises(DomainError):
        K.polar(np.zeros((2, 2)))
    with pytest.raises(DomainError):
        K.polar(np.zeros((2, 1)))


def test_norms_match_numpy(rng):
    X = rng.standard_normal((4, 3))
    assert K.norm2(X) == pytest.approx(np.linalg.norm(X, 2), rel=1e-14)
    assert K.norm_nuc(X) == pytest.approx(np.linalg.svd(X, compute_uv=False).sum(), rel=1e-14)
    v = rng.standard_normal((6, 1))
    assert K.norm2(v) == pytest.approx(np.sqrt((v**2).sum()), rel=1e-14)
    assert K.norm_nuc(v) == pytest.approx(np.sqrt((v**2).sum()), rel=1e-14)
    assert K.norm2(v.ravel()) == pytest.approx(np.sqrt((v**2).sum()), rel=1e-14)


# ---------------------------------------------------------------- det / logdet


def test_det(rng):
    A = rng.standard_normal((5, 5))
    assert K.det(A) == pytest.approx(np.linalg.det(A), rel=1e-14)


def test_logdet_spd(rng):
    B = rng.standard_normal((5, 5))
    S = B @ B.T + 5 * np.eye(5)
    expected = np.linalg.slogdet(S)[1]
    assert K.logdet(S, spd=True) == pytest.approx(expected, rel=1e-13)
    assert K.logdet(S) == pytest.approx(expected, rel=1e-13)  # exactly symmetric: Cholesky too


def test_logdet_general(rng):
    for _ in range(10):
        A = rng.standard_normal((4, 4))
        sgn, la = np.linalg.slogdet(A)
        if sgn > 0:
            assert K.logdet(A) == pytest.approx(la, rel=1e-13)
        else:
            with pytest.raises(DomainError, match=r"det\(A\) = -[0-9.e+-]+ <= 0: logdet undefined"):
                K.logdet(A)


def test_logdet_complex(rng):
    Z = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    assert np.exp(K.logdet(Z)) == pytest.approx(np.linalg.det(Z), rel=1e-12)


def test_logdet_domain_errors():
    with pytest.raises(DomainError, match=r"not positive definite \(Cholesky failed\)"):
        K.logdet(np.diag([1.0, -2.0, 3.0]), spd=True)
    # symmetric with det > 0 but not positive definite: logdet = log(det) is defined (not declared spd)
    assert K.logdet(np.diag([-1.0, -2.0, 3.0])) == pytest.approx(np.log(6.0))
    with pytest.raises(DomainError, match=r"det\(A\) = -2 <= 0"):
        K.logdet(np.array([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(DomainError, match=r"det\(A\) = 0 <= 0"):
        K.logdet(np.array([[1.0, 2.0], [3.0, 6.0]]))
    with pytest.raises(ShapeError):
        K.logdet(np.ones((2, 3)))


# ---------------------------------------------------------------- solve / inv


def test_solve_and_inv_match_numpy(rng):
    A = rng.standard_normal((5, 5))
    B = rng.standard_normal((5, 3))
    b = rng.standard_normal(5)
    np.testing.assert_allclose(K.solve(A, B), np.linalg.solve(A, B), rtol=1e-12)
    np.testing.assert_allclose(K.solve(A, b), np.linalg.solve(A, b), rtol=1e-12)
    assert K.solve(A, b).shape == (5,)
    np.testing.assert_allclose(K.inv(A), np.linalg.inv(A), rtol=1e-12)
    Z = A + 1j * rng.standard_normal((5, 5))
    np.testing.assert_allclose(K.solve(Z, B), np.linalg.solve(Z, B), rtol=1e-12)
    np.testing.assert_allclose(K.solve(A, B + 1j), np.linalg.solve(A, B + 1j), rtol=1e-12)
    np.testing.assert_allclose(K.inv(Z), np.linalg.inv(Z), rtol=1e-12)


@pytest.mark.parametrize(
    "A",
    [
        np.array([[1.0, 2.0], [2.0, 4.0]]),
        np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]),
        np.array([[1.0, 1.0], [1.0, 1.0 + 1e-15]]),  # cond ~ 4e15
        np.zeros((3, 3)),
        np.array([[1.0, 2.0], [2.0, 4.0 + 1e-15]]),  # numerically singular, cond ~ 1e16
    ],
)
def test_solve_inv_singular_raise_without_warnings(A):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError, match="singular"):
            K.solve(A, np.ones((A.shape[0], 1)))
        with pytest.raises(DomainError, match="singular"):
            K.inv(A)


def test_solve_ill_conditioned_but_regular_is_accepted():
    A = np.diag([1.0, 1e-10])
    np.testing.assert_allclose(K.solve(A, np.array([1.0, 1.0])), [1.0, 1e10])


def test_solve_shape_errors():
    with pytest.raises(ShapeError):
        K.solve(np.eye(3), np.ones((2, 1)))
    with pytest.raises(ShapeError):
        K.inv(np.ones((2, 3)))


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        K.inv(np.zeros((2, 2)))
    assert issubclass(DomainError, MatdiffError)


# ---------------------------------------------------------------- sign / checks


def test_sign():
    X = np.array([[1.5, -2.0], [3.0, -0.1]])
    np.testing.assert_array_equal(K.sign(X), [[1, -1], [1, -1]])
    with pytest.raises(DomainError, match=r"2 entries are exactly 0 \(first at index \(0, 1\)\)"):
        K.sign(np.array([[1.0, 0.0], [0.0, 2.0]]))
    with pytest.raises(DomainError, match=r"1 entry is exactly 0"):
        K.sign(np.array([[1.0], [-0.0]]))


def test_check_positive():
    X = np.array([[1.0, 2.0]])
    assert K.check_positive(X, "log") is X
    with pytest.raises(
        DomainError, match=r"^log: needs positive entries, but 1 is not \(first at index \(0, 1\): -2"
    ):
        K.check_positive(np.array([[1.0, -2.0]]), "log")
    with pytest.raises(DomainError, match="2 are not"):
        K.check_positive(np.array([[0.0, np.nan]]), "sqrt")


def test_check_nonzero():
    assert K.check_nonzero(2.5, "division") == 2.5
    with pytest.raises(DomainError, match="^division: division by zero"):
        K.check_nonzero(0.0, "division")


def test_principal_minor_helper_sanity():
    # the brute-force reference itself: sum of principal 2x2 minors of a 3x3 matrix
    A = np.array([[2, 1, 0], [1, 3, 1], [0, 1, 4]])
    expected = sum(exact_det(A[np.ix_(list(idx), list(idx))]) for idx in combinations(range(3), 2))
    assert principal_minor_sum(A) == expected == 24  # 5 + 8 + 11
