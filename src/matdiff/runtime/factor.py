"""Factorizations computed once and shared by everything generated code needs of a matrix.

``lu(A)`` (general) and ``chol(A)`` (SPD) wrap LAPACK's factors; ``solve``, ``solve_t``
(with A'), ``inv``, ``det``, ``logdet`` and ``adj`` then cost only triangular solves or a
product of the diagonal.  So ``logdet(S) + tr(inv(S)*C)`` and its gradient use one Cholesky.
``lu`` never raises: an exactly singular A is legal for ``det`` and ``adj``; the solves raise
:class:`DomainError` when A is singular to working precision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import lapack

from ..errors import DomainError
from . import kernels as _K

_EPS = np.finfo(float).eps
_LU = {np.dtype(np.float64): (lapack.dgetrf, lapack.dgetrs, lapack.dgetri, lapack.dgecon, lapack.dlange),
       np.dtype(np.complex128): (lapack.zgetrf, lapack.zgetrs, lapack.zgetri, lapack.zgecon, lapack.zlange)}
_CHOL = {np.dtype(np.float64): (lapack.dpotrf, lapack.dpotrs, lapack.dpotri),
         np.dtype(np.complex128): (lapack.zpotrf, lapack.zpotrs, lapack.zpotri)}


def _arr(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A)
    if A.dtype != np.float64 and A.dtype != np.complex128:
        A = A.astype(np.complex128 if A.dtype.kind == "c" else np.float64)
    return A


class LU:
    """P A = L U of a square matrix (kept with A, for the adjugate's SVD fallback)."""

    __slots__ = ("a", "lu", "piv", "info", "fns", "_checked")

    def __init__(self, A: np.ndarray):
        self.a = _arr(A)
        self.fns = _LU[self.a.dtype]
        self.lu, self.piv, self.info = self.fns[0](self.a)
        self._checked = False

    def check(self, what: str | Callable[..., Any] = "solve") -> None:
        """DomainError unless A is invertible to working precision (``what``: the kernel asking, or a word)."""
        if self._checked:
            return
        if self.info > 0:
            raise DomainError(f"{_K.name_of(what)}: the matrix is singular (pivot {self.info} of its LU factors is 0)")
        # the pivots' spread bounds the condition from below: O(n), unlike a condition estimate
        u = np.abs(self.lu.diagonal())
        lo, hi = u.min(), u.max()
        tol = 10 * self.a.shape[0] * _EPS
        if lo <= tol * hi:
            raise DomainError(f"{_K.name_of(what)}: the matrix is singular to working precision "
                              f"(smallest/largest LU pivot {lo / hi if hi else 0:.3g} < {tol:.3g})")
        self._checked = True

    def det(self) -> float | complex:
        d = self.lu.diagonal()
        sign = -1.0 if np.count_nonzero(self.piv != np.arange(self.piv.size)) % 2 else 1.0
        return sign * d.prod()


class Chol:
    """A = L L' of a symmetric positive definite matrix."""

    __slots__ = ("a", "c", "fns")

    def __init__(self, A: np.ndarray):
        self.a = _arr(A)
        self.fns = _CHOL[self.a.dtype]
        self.c, info = self.fns[0](self.a, lower=1, clean=1)
        if info != 0:
            raise DomainError("the matrix is not positive definite (its Cholesky factorization failed "
                              f"at column {info}), but it was declared spd")


def lu(A: np.ndarray) -> LU:
    return LU(A)


def chol(A: np.ndarray) -> Chol:
    return Chol(A)


def _rhs(B: np.ndarray, F: LU | Chol) -> np.ndarray:
    B = np.asarray(B)
    if B.dtype != F.a.dtype:
        B = B.astype(F.a.dtype) if F.a.dtype == np.complex128 else B.astype(np.result_type(B, F.a))
    return B


def solve(F: LU | Chol, B: np.ndarray) -> np.ndarray:
    """A^-1 B."""
    if F.a.dtype != np.result_type(F.a, B):  # a complex right-hand side with a real matrix
        return solve(type(F)(F.a.astype(np.complex128)), B)
    B = _rhs(B, F)
    if isinstance(F, Chol):
        x, _ = F.fns[1](F.c, B, lower=1)
        return x
    F.check()
    x, _ = F.fns[1](F.lu, F.piv, B)
    return x


def solve_t(F: LU | Chol, B: np.ndarray) -> np.ndarray:
    """A'^-1 B (the plain transpose, never the conjugate)."""
    if isinstance(F, Chol):
        return solve(F, B)
    if F.a.dtype != np.result_type(F.a, B):
        return solve_t(LU(F.a.astype(np.complex128)), B)
    B = _rhs(B, F)
    F.check()
    x, _ = F.fns[1](F.lu, F.piv, B, trans=1)
    return x


def inv(F: LU | Chol) -> np.ndarray:
    """A^-1."""
    if isinstance(F, Chol):
        x, _ = F.fns[2](F.c, lower=1)
        return np.tril(x) + np.tril(x, -1).T  # potri fills the lower triangle only
    F.check(inv)
    return _inv_lu(F)


def _inv_lu(F: LU) -> np.ndarray:
    """A^-1 from the LU factors by two triangular solves with I: LAPACK's getri is several times slower."""
    x, _ = F.fns[1](F.lu, F.piv, np.eye(F.a.shape[0], dtype=F.a.dtype))
    return x


def det(F: LU | Chol) -> float | complex:
    if isinstance(F, Chol):
        return float(np.prod(F.c.diagonal().real) ** 2)
    return F.det()


def logdet(F: LU | Chol) -> float | complex:
    """log det A; DomainError where det A <= 0."""
    if isinstance(F, Chol):
        return 2.0 * np.log(F.c.diagonal().real).sum()
    d = F.lu.diagonal()
    if F.a.dtype == np.complex128:
        if not np.all(d):
            raise DomainError("logdet: det(A) = 0 (the matrix is singular)")
        return np.log(F.det())
    sign = (-1.0 if np.count_nonzero(F.piv != np.arange(F.piv.size)) % 2 else 1.0) * np.prod(np.sign(d))
    if not sign > 0:
        value = "0" if sign == 0 else f"{F.det():.6g}"
        raise DomainError(f"logdet: det(A) = {value} <= 0: logdet is undefined here")
    return np.log(np.abs(d)).sum()


def adj_d(F: LU | Chol, E: np.ndarray) -> np.ndarray:
    """adj'(A)[E] = det(A) (tr(A^-1 E) A^-1 - A^-1 E A^-1) from the factors while the pivots show A well
    conditioned (as ``adj``), else by the SVD: exact at singular A."""
    E = np.asarray(E)
    n = F.a.shape[0]
    if n == 1:
        return np.zeros(F.a.shape, dtype=np.result_type(F.a, E, np.float64))
    if not _adj_by_inverse(F) or F.a.dtype != np.result_type(F.a, E):  # (complex E, real A: the kernel converts)
        return _K.adj_d(F.a, E)
    X = inv(F) if isinstance(F, Chol) else _inv_lu(F)
    return _K.adj_d_from_inverse(X, E, lambda Y, shift: _times_det(F, Y, adj_d, shift))


def adj(F: LU | Chol) -> np.ndarray:
    """adj(A) = det(A) A^-1 from the factors while the pivots show A well conditioned, else by the SVD; right also
    where det(A) alone over- or underflows (``_times_det``)."""
    if isinstance(F, Chol):
        return _times_det(F, inv(F), adj)
    n = F.a.shape[0]
    if n == 1:
        return np.ones_like(F.a)
    if _adj_by_inverse(F):
        return _times_det(F, _inv_lu(F), adj)
    return _K.adj(F.a)  # the SVD branch: finite and right at singular A


def _times_det(F: LU | Chol, Y: np.ndarray, what: Callable[..., Any], shift: int = 0) -> np.ndarray:
    """det(A) Y: the plain product while det(A) is a finite normal number, else scaled by powers of 2 (det(A) ~ s^n
    may over- or underflow where adj(A) ~ s^(n-1) does not); DomainError where the result underflows as a whole."""
    if isinstance(F, Chol):
        c = F.c.diagonal().real
        p = _K._prod(c)
        return _K._times_det(p * p, np.concatenate([c, c]), 1.0, Y, what, shift)  # det(A) = prod(l_ii)^2
    sign = -1.0 if np.count_nonzero(F.piv != np.arange(F.piv.size)) % 2 else 1.0
    u = F.lu.diagonal()
    return _K._times_det(sign * _K._prod(u), u, sign, Y, what, shift)  # det(P L U) = sign(P) prod(u_ii)


def _adj_by_inverse(F: LU | Chol) -> bool:
    """Whether adj(A) = det(A) A^-1 (and its derivative) may come from the factors: Cholesky, or LU pivots that
    show A well conditioned (else the SVD, exact at singular A)."""
    if isinstance(F, Chol):
        return True
    u = np.abs(F.lu.diagonal())
    return bool(F.info == 0 and u.min() > _K._ADJ_LU_MIN_PIVOT_RATIO * u.max())
