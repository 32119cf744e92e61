"""Stable numeric kernels used by the evaluator and by the generated NumPy code.

Rules the kernels follow (and that generated code should follow too):

* Never multiply by an explicit inverse: ``A^{-1} B`` is ``solve(A, B)`` (one LU factorization, two triangular
  solves), which is both cheaper and more accurate than ``inv(A) @ B``.
* A matrix is singular to working precision when LAPACK's reciprocal condition estimate (1-norm) is below
  ``10 n eps``; ``solve`` and ``inv`` then raise :class:`DomainError` instead of returning noise or warning.
* Symmetric positive definite matrices are handled by Cholesky (``logdet(A, spd=True)``): half the cost of LU,
  and a failed factorization is the test for positive definiteness.
* The adjugate ``adj(A) = det(A) A^{-1}`` is a polynomial in the entries of ``A``, so it is defined
  everywhere, also at singular ``A``. While the LU pivots show ``A`` well conditioned it is
  ``det(A) * inv(A)`` from one LU factorization; otherwise it comes from the SVD,
  ``adj(A) = det(U) det(V^H) V adj(S) U^H``, which costs several times (5-10x) as much but is exact in
  the limit (rank n-1 gives the rank-1 adjugate, rank <= n-2 gives 0).
  Its derivative ``adj'(A)[E]`` (``adj_d``) likewise: ``tr(adj(A) E) A^{-1} - adj(A) E A^{-1}`` from the LU
  factors, else ``c V Dσ(U^H E V) U^H`` from the SVD, exact at any rank.
* Extreme scales give the right number or a DomainError, never zeros: ``det(A)`` of an n x n A with entries ~s
  is ~s^n and may over- or underflow while ``adj(A) ~ s^(n-1)`` is representable, so where the product of the
  pivots is not a finite normal number the adjugate is formed as (m A^-1) 2^e with det(A) = m 2^e (``_times_det``);
  one that underflows as a whole is refused. Norms ``sqrt(sum |x|^2)`` rescale by a power of 2 where the plain
  sum of squares overflowed or underflowed (``norm_fro``), as LAPACK's dnrm2 does.
* Kernels that compute a derivative where it does not exist (``sign`` at 0, ``top_sv`` at a repeated top
  singular value, ``polar`` at a rank deficient matrix) raise :class:`DomainError` saying what and why.

Inputs are 2-D float or complex ndarrays unless noted; other numeric dtypes are converted to float64.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import dger as _dger
from scipy.linalg.blas import dsyrk as _dsyrk

from matdiff.errors import DomainError, ShapeError

from .matfun import (  # noqa: F401 - the matrix functions' kernels are _K's too
    eigh,
    expm,
    expm_frechet,
    expm_frechet2,
    expm_pade,
    logm,
    logm_frechet,
    logm_frechet2,
    powm_frechet2,
    sqrtm,
    sqrtm_frechet,
    sqrtm_frechet2,
    sym_check,
    sym_frechet,
    sym_fun,
    sym_trace,
)

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64, 2^-1022

# A plain norm below this (2^-500 ~ 3e-151) may have lost squares to underflow: its sum of squares is below
# 2^-1000, within n 2^-1074 of the subnormal range (norm >= 2^-500 keeps the loss below n 2^-74 relative).
_NORM_LO = 2.0**-500

# adj / tr_adj use det(A) * inv(A) from one LU while min|u_ii| / max|u_ii| exceeds this ratio, else the SVD.
# Both branches have error ~ eps * s_1 / s_{n-1} relative to ||adj|| (the conditioning of adj itself: a small
# s_n cancels between det and inv because both come from the same factors); measured against 60-digit
# references the LU branch stayed as accurate as the SVD one down to pivot ratios ~1e-18, also for exactly
# singular integer matrices. The switch is therefore for robustness, not accuracy: an exactly zero pivot, or
# entries of inv ~ 1/u_min that overflow. 1e-8 leaves a wide margin; only nearly singular A go to the SVD.
_ADJ_LU_MIN_PIVOT_RATIO = 1e-8

# Singular-value ratios under which a derivative is declared not to exist.
_TOP_SV_GAP = 1e-8  # top_sv: s0 - s1 <= _TOP_SV_GAP * s0 means the top singular value is repeated
_POLAR_RANK = 1e-10  # polar: s_min <= _POLAR_RANK * s_max means X is rank deficient

_LAPACK = {
    np.dtype(np.float64): (lapack.dgetrf, lapack.dgecon, lapack.dgetrs, lapack.dgetri, lapack.dlange),
    np.dtype(np.complex128): (lapack.zgetrf, lapack.zgecon, lapack.zgetrs, lapack.zgetri, lapack.zlange),
}


def name_of(what: str | Callable[..., Any]) -> str:
    """The name an error message starts with: a kernel's own name (the function itself is passed), or a word."""
    return what if isinstance(what, str) else what.__name__


def _as_float(A: np.ndarray) -> np.ndarray:
    """A as a float64 or complex128 array (no copy when it already is one)."""
    A = np.asarray(A)
    if A.dtype != np.float64 and A.dtype != np.complex128:
        A = A.astype(np.complex128 if A.dtype.kind == "c" else np.float64)
    return A


def _square(A: np.ndarray, what: Callable[..., Any]) -> np.ndarray:
    """A as a float/complex array, after checking that it is a square matrix (``what``: the kernel asking)."""
    A = _as_float(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not A.shape[0]:
        raise ShapeError(f"{name_of(what)}: expected a non-empty square matrix, got shape {A.shape}")
    return A


def _lu_checked(A: np.ndarray, what: Callable[..., Any]) -> tuple[np.ndarray, np.ndarray]:
    """LU factors (lu, piv) of the square A; DomainError when A is singular to working precision."""
    getrf, gecon, _, _, lange = _LAPACK[A.dtype]
    lu, piv, info = getrf(A)
    if info > 0:
        raise DomainError(
            f"{name_of(what)}: the matrix is singular (pivot {info} of its LU factorization is exactly 0)"
        )
    anorm = lange("1", A)  # the 1-norm, in which gecon estimates the condition number
    rcond, _ = gecon(lu, anorm)
    tol = 10 * A.shape[0] * _EPS
    if rcond < tol and anorm == anorm:  # anorm is NaN for NaN input: let the NaNs propagate instead
        raise DomainError(
            f"{name_of(what)}: the matrix is singular to working precision (reciprocal condition number "
            f"{rcond:.3g} < {tol:.3g})"
        )
    return lu, piv


def solve(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The solution X of A X = B (B a matrix or a vector); DomainError when A is singular."""
    A = _square(A, solve)
    B = _as_float(B)
    if B.shape[:1] != A.shape[:1] or B.ndim not in (1, 2):
        raise ShapeError(f"solve: A has shape {A.shape} but B has shape {B.shape}")
    if A.dtype != B.dtype:  # one of them complex: solve in complex
        A, B = A.astype(np.complex128), B.astype(np.complex128)
    lu, piv = _lu_checked(A, solve)
    x, _ = _LAPACK[A.dtype][2](lu, piv, B.reshape(B.shape[0], -1))
    return x.reshape(B.shape)


def inv(A: np.ndarray) -> np.ndarray:
    """The inverse of A; DomainError when A is singular."""
    A = _square(A, inv)
    lu, piv = _lu_checked(A, inv)
    x, _ = _LAPACK[A.dtype][3](lu, piv)
    return x


def det(A: np.ndarray) -> float | complex:
    """The determinant of A."""
    return np.linalg.det(A)


def logdet(A: np.ndarray, spd: bool = False) -> float | complex:
    """log det(A); DomainError where it is undefined (det <= 0, or a symmetric A that is not PD).

    With ``spd=True`` A is declared symmetric positive definite (only its lower triangle is read). A complex A
    gives the principal complex logarithm.
    """
    A = _square(A, logdet)
    if spd:
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            why = "it was declared spd"
            raise DomainError(
                f"logdet: the matrix is not positive definite (Cholesky failed), but {why}"
            ) from None
        # det(A) = det(L)^2 = prod(l_ii)^2
        return 2.0 * np.log(L.diagonal().real).sum()
    sgn, logabs = np.linalg.slogdet(A)
    if A.dtype == np.complex128:
        if sgn == 0:
            raise DomainError("logdet: det(A) = 0: logdet undefined (the matrix is singular)")
        return logabs + np.log(sgn)
    if not sgn > 0:
        if sgn != sgn:  # NaN input: propagate
            return logabs
        value = "0" if sgn == 0 else f"{sgn * np.exp(logabs):.6g}"
        raise DomainError(f"logdet: det(A) = {value} <= 0: logdet undefined")
    return logabs


def _ldexp(X: np.ndarray | float | complex, e: int) -> np.ndarray:
    """X 2^e exactly (up to over/underflow of the result), for real or complex X; e may exceed 2^±1023."""
    X = np.asarray(X)
    if X.dtype.kind != "c":
        return np.ldexp(X, e)
    out = np.empty_like(X)
    out.real = np.ldexp(X.real, e)
    out.imag = np.ldexp(X.imag, e)
    return out


def _exponent(a: float) -> int:
    """The e with a = m 2^e, 0.5 <= m < 1 (0 for a = 0 or not finite)."""
    return int(np.frexp(a)[1]) if np.isfinite(a) else 0


def _prod(v: np.ndarray) -> float | complex:
    """prod(v) as Python numbers: inf or 0 where it over- or underflows, without NumPy's warnings (and faster)."""
    return math.prod(v.tolist())


def _prod_scaled(v: np.ndarray) -> tuple[float | complex, int]:
    """(m, e) with prod(v) = m 2^e and 0.5 <= |m| < 1 (m = 0 if some v_i = 0): a product without over- or
    underflow. Each factor is split as v_i = m_i 2^(e_i) (exact: powers of 2), the mantissas multiplied in
    blocks short enough (2^-512 <= |prod| <= 1) to renormalise before they could underflow."""
    v = np.asarray(v)
    e_i = np.frexp(np.abs(v))[1]
    m_i = _ldexp(v, -e_i)  # |m_i| in [0.5, 1)
    m: float | complex = 1.0
    e = int(e_i.sum())
    for k in range(0, m_i.size, 512):
        m = m * m_i[k:k + 512].prod()
        if m == 0:
            return m, 0
        k_e = _exponent(abs(m))
        m, e = m * 2.0**-k_e, e + k_e  # 2^-k_e with k_e in [-511, 1]: exact
    return m, e


def _times_det(d: float | complex, pivots: np.ndarray, sign: float, Y: np.ndarray, what: Callable[..., Any],
               shift: int = 0) -> np.ndarray:
    """det(A) Y, where d = sign prod(pivots) is det(A) as the plain product gave it.

    While d is a finite normal number that is d * Y (the common case: a scalar test, no extra pass). Else det(A)
    over- or underflowed, but det(A) Y (an adjugate ~s^(n-1), its derivative ~s^(n-2) at entries ~s) may not:
    with det(A) = m 2^e (``_prod_scaled``) it is (m Y) 2^e, exact in the scaling. A result that underflows as a
    whole (largest entry below 2^-1022 where m Y is not 0) is refused with DomainError, never returned as zeros.
    """
    if shift == 0 and np.isfinite(d) and abs(d) >= _TINY:
        return d * Y
    if not np.all(np.isfinite(pivots)):  # NaN input: propagate
        return d * Y
    m, e = _prod_scaled(pivots)
    mY = (sign * m) * Y
    out = _ldexp(mY, e + shift)  # det(A) 2^shift Y
    if np.size(out) and np.max(np.abs(out)) < _TINY and np.any(mY):
        raise DomainError(
            f"{name_of(what)}: the result underflows (det(A) = {m.real if np.isrealobj(m) else m:.6g} * 2^{e}; "
            f"its largest entry would be below {_TINY:.3g}, beneath float64's normal range), so it cannot be "
            "represented"
        )
    return out



def _perm_sign(piv: np.ndarray) -> int:
    """The sign of the permutation given by LAPACK's 0-based row interchanges."""
    return -1 if np.count_nonzero(piv != np.arange(piv.size)) % 2 else 1


def _others_products(s: np.ndarray) -> np.ndarray:
    """prod_{j != i} s_j for each i, from prefix and suffix products (no division, so exact at s_i = 0)."""
    n = s.size
    prefix = np.ones(n)
    suffix = np.ones(n)
    np.cumprod(s[:-1], out=prefix[1:])
    np.cumprod(s[:0:-1], out=suffix[-2::-1])
    return prefix * suffix


def _svd_adj_parts(A: np.ndarray) -> tuple[float | complex, np.ndarray, np.ndarray, np.ndarray, int]:
    """(c, U, d, Vh, k) with adj(A) = 2^(k(n-1)) c V diag(d) U^H from the SVD A = U S V^H.

    adj(XY) = adj(Y) adj(X), and a unitary W has adj(W) = det(W) W^H, so
    adj(U S V^H) = adj(V^H) adj(S) adj(U) = det(V^H) det(U) V adj(S) U^H,
    with adj(S) = diag(prod_{j != i} s_j) = 2^(k(n-1)) adj(S 2^-k), k the exponent of s_0 (no overflow).
    """
    U, s, Vh = np.linalg.svd(A)
    c = np.linalg.det(U) * np.linalg.det(Vh)  # of modulus 1; for real A it is +-1
    c = (1.0 if c > 0 else -1.0) if A.dtype == np.float64 else c / abs(c)
    s, k = _svd_scale(s)
    return c, U, _others_products(s), Vh, k


class _LUAdj:
    """What the adjugate and its derivative need from one LU of a well conditioned A: A^-1 and det(A), the latter
    also as its pivots and the permutation's sign, so that ``times_det`` may scale where det(A) itself over- or
    underflows."""

    __slots__ = ("d", "x", "pivots", "perm_sign")

    def __init__(self, lu: np.ndarray, piv: np.ndarray, x: np.ndarray):
        self.pivots = lu.diagonal()
        self.perm_sign = float(_perm_sign(piv))
        self.d = self.perm_sign * _prod(self.pivots)  # det(P L U) = sign(P) prod(u_ii)
        self.x = x

    def times_det(self, Y: np.ndarray, what: Callable[..., Any], shift: int = 0) -> np.ndarray:
        """det(A) 2^shift Y, right also where det(A) alone over- or underflows (``_times_det``)."""
        return _times_det(self.d, self.pivots, self.perm_sign, Y, what, shift)


def _lu_det_inv(A: np.ndarray) -> _LUAdj | None:
    """det(A) and inv(A) from LU when the pivots show A well conditioned, else None."""
    getrf, _, _, getri, _ = _LAPACK[A.dtype]
    lu, piv, info = getrf(A)
    if info > 0:
        return None
    u = np.abs(lu.diagonal())
    if not u.min() > _ADJ_LU_MIN_PIVOT_RATIO * u.max():
        return None
    x, _ = getri(lu, piv)
    return _LUAdj(lu, piv, x)


def _svd_scale(s: np.ndarray) -> tuple[np.ndarray, int]:
    """(s 2^-k, k) with k the exponent of the largest singular value s_0: the products of the scaled values, which
    adj(S) and its derivative take, neither overflow nor (for well scaled factors) underflow; exact scaling."""
    k = _exponent(float(s[0])) if s.size else 0
    return np.ldexp(s, -k), k


def _unscale(X: np.ndarray, e: int, what: str | Callable[..., Any]) -> np.ndarray:
    """X 2^e (an adjugate or its derivative computed at unit scale); DomainError if it underflows as a whole."""
    if e == 0:
        return X
    out = _ldexp(X, e)
    if np.size(out) and np.max(np.abs(out)) < _TINY and np.any(X):
        raise DomainError(f"{name_of(what)}: the result underflows (its largest entry would be below {_TINY:.3g}, "
                          "beneath float64's normal range), so it cannot be represented")
    return out


def adj_d_from_inverse(X: np.ndarray, E: np.ndarray, times_det: Callable[[np.ndarray, int], np.ndarray]) \
        -> np.ndarray:
    """adj'(A)[E] = det(A) (tr(X E) X - X E X) from X = A^-1, with ``times_det(Y, shift)`` = det(A) 2^shift Y.

    X E X is ~2^-2k for an A of scale 2^k and underflows (~1e-400 at A ~ 1e200) where the derivative, ~2^(k(n-2)),
    does not: far from unit scale X is taken as X1 2^k (exact) and the 2^2k given to ``times_det``."""
    big = float(np.max(np.abs(X), initial=0.0))
    k = _exponent(big) if 0 < big < np.inf else 0
    if abs(k) < 256:
        XE = X @ E
        return times_det(np.trace(XE) * X - XE @ X, 0)
    X1 = _ldexp(X, -k)
    XE = X1 @ E
    return times_det(np.trace(XE) * X1 - XE @ X1, 2 * k)


def adj(A: np.ndarray) -> np.ndarray:
    """The adjugate (classical adjoint) of A: det(A) inv(A) when A is invertible, and its limit otherwise.

    Right where det(A) over- or underflows but adj(A) does not; DomainError where adj(A) underflows as a whole.
    """
    A = _square(A, adj)
    n = A.shape[0]
    if n == 1:
        return np.ones_like(A)
    lu = _lu_det_inv(A)
    if lu is not None:
        return lu.times_det(lu.x, adj)
    if not np.isfinite(A).all():
        return np.full_like(A, np.nan)
    c, U, d, Vh, k = _svd_adj_parts(A)
    # adj(S) = 2^(k(n-1)) adj(S 2^-k): the scaled products, the power of 2 put back at the end
    return _unscale((c * Vh.conj().T * d) @ U.conj().T, k * (n - 1), adj)  # c V diag(d) U^H


def _pair_products(s: np.ndarray) -> np.ndarray:
    """P with P_ij = prod_{m != i, j} s_m for i != j and P_ii = 0, without dividing (exact where some s_m = 0).

    Row i is ``_others_products`` of s with s_i replaced by 1."""
    n = s.size
    S = np.where(np.eye(n, dtype=bool), 1.0, np.broadcast_to(s, (n, n)))
    prefix = np.ones((n, n))
    suffix = np.ones((n, n))
    np.cumprod(S[:, :-1], axis=1, out=prefix[:, 1:])
    np.cumprod(S[:, :0:-1], axis=1, out=suffix[:, -2::-1])
    P = prefix * suffix
    np.fill_diagonal(P, 0.0)
    return P


def adj_d_svd(A: np.ndarray, E: np.ndarray) -> np.ndarray:
    """adj'(A)[E] from the SVD A = U S V^H: adj(A) = c V adj(S) U^H with c = det(U) det(V^H) gives
    adj'(A)[E] = c V Dσ(F) U^H, F = U^H E V, Dσ(F) = diag(P diag(F)) - P .* F (P from ``_pair_products``):
    the derivative of adj(S) = diag(prod_{m != i} s_m) at the diagonal S, exact at any rank. P is formed from
    S 2^-k (k the exponent of s_0) and 2^(k(n-2)) put back at the end: no overflow in between."""
    U, s, Vh = np.linalg.svd(A)
    c = np.linalg.det(U) * np.linalg.det(Vh)
    c = (1.0 if c > 0 else -1.0) if A.dtype == np.float64 else c / abs(c)
    s, k = _svd_scale(s)
    V = Vh.conj().T
    F = U.conj().T @ E @ V
    P = _pair_products(s)
    D = np.diag(P @ np.diagonal(F)) - P * F
    return _unscale((c * V) @ D @ U.conj().T, k * (s.size - 2), adj_d)


def adj_d(A: np.ndarray, E: np.ndarray) -> np.ndarray:
    """adj'(A)[E], the derivative of the adjugate at A in the direction E (linear in E), also at singular A.

    tr(adj(A) E) A^-1 - adj(A) E A^-1 = det(A) (tr(A^-1 E) A^-1 - A^-1 E A^-1) while the LU pivots show A well
    conditioned (the test of ``adj``), else from the SVD (``adj_d_svd``). For a 1x1 A (adj = 1) it is 0.
    """
    A = _square(A, adj_d)
    E = _as_float(E)
    if E.shape != A.shape:
        E = np.broadcast_to(E, A.shape)
    if A.dtype != E.dtype:  # one of them complex: both complex
        A, E = A.astype(np.complex128), E.astype(np.complex128)
    if A.shape[0] == 1:
        return np.zeros_like(E)
    lu = _lu_det_inv(A)
    if lu is not None:
        return adj_d_from_inverse(lu.x, E, lambda Y, shift: lu.times_det(Y, adj_d, shift))
    if not (np.isfinite(A).all() and np.isfinite(E).all()):
        return np.full_like(E, np.nan)
    return adj_d_svd(A, E)


def tr_adj(A: np.ndarray) -> float | complex:
    """The trace of the adjugate of A (the sum of its principal (n-1)-minors), also at singular A."""
    A = _square(A, tr_adj)
    if A.shape[0] == 1:
        return 1.0
    lu = _lu_det_inv(A)
    if lu is not None:
        t = lu.times_det(lu.x.trace(), tr_adj)
    elif not np.isfinite(A).all():
        t = np.nan
    else:
        # tr(V D U^H) = sum_i d_i (U^H V)_ii, and (U^H V)_ii = conj((V^H U)_ii)
        c, U, d, Vh, k = _svd_adj_parts(A)
        t = _unscale(c * (d * np.einsum("ik,ki->i", Vh, U).conj()).sum(), k * (A.shape[0] - 1), tr_adj)
    return complex(t) if A.dtype == np.complex128 else float(t)


def _is_vector(X: np.ndarray) -> bool:
    return X.ndim < 2 or min(X.shape) == 1


def top_sv(X: np.ndarray) -> np.ndarray:
    """u1 v1^H for the largest singular value of X: the gradient of the spectral norm ||X||_2.

    For a vector (shape (n,), (n, 1) or (1, n)) it is X / ||X||. DomainError at X = 0 and when the largest
    singular value is repeated (the spectral norm is not differentiable there).
    """
    X = _as_float(X)
    if _is_vector(X):
        nrm = norm_fro(X)
        if nrm == 0:
            raise DomainError("norm2 (top_sv): X = 0, where the norm is not differentiable")
        return X / nrm
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    if s[0] == 0:
        raise DomainError("norm2 (top_sv): X = 0, where the spectral norm is not differentiable")
    if s[0] - s[1] <= _TOP_SV_GAP * s[0]:
        raise DomainError(
            f"norm2 (top_sv): the largest singular value is repeated (s1 = {s[0]:.6g}, s2 = {s[1]:.6g}), "
            "so the spectral norm norm2 is not differentiable there"
        )
    return np.outer(U[:, 0], Vh[0])


def polar(X: np.ndarray) -> np.ndarray:
    """The unitary polar factor U V^H of the thin SVD of X: the gradient of the nuclear norm.

    For a vector it is X / ||X||. DomainError when X is rank deficient (s_min <= 1e-10 s_max), where the
    nuclear norm is not differentiable.
    """
    X = _as_float(X)
    if _is_vector(X):
        nrm = norm_fro(X)
        if nrm == 0:
            raise DomainError("norm_nuc (polar): X = 0, where the nuclear norm is not differentiable")
        return X / nrm
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    if not s[-1] > _POLAR_RANK * s[0]:
        raise DomainError(
            f"norm_nuc (polar): the matrix is rank deficient (smallest singular value {s[-1]:.3g}, "
            f"largest {s[0]:.3g}), so the nuclear norm norm_nuc is not differentiable there"
        )
    return U @ Vh


def logsumexp(X: np.ndarray) -> Any:
    """log(sum(exp(X))) over all entries without overflow: m + log(sum(exp(X - m))), m the largest (real part)
    entry; complex X (the complex-step check) by the same formula, its analytic continuation."""
    X = np.asarray(X)
    m = np.max(np.real(X)) if X.size else -np.inf
    if not np.isfinite(m):  # +inf or NaN entries: the plain formula says what they give
        return np.log(np.sum(np.exp(X)))
    return m + np.log(np.sum(np.exp(X - m)))


def _sym(S: np.ndarray) -> np.ndarray:
    S = np.real(np.asarray(S, dtype=float) if np.isrealobj(S) else np.asarray(S))
    return (S + S.T) / 2  # symmetric by type or structure: rounding made it only nearly so


def eig_gap_check(w: np.ndarray, which: str) -> None:
    """DomainError where the eigenvalue(s) a derivative needs are repeated (``which``: "max", "min", "all")."""
    scale = max(float(np.max(np.abs(w))) if w.size else 0.0, np.finfo(float).tiny)
    tol = 100 * _EPS * w.size * scale
    gaps = np.diff(w)
    if which == "max":
        gaps = gaps[-1:]
    elif which == "min":
        gaps = gaps[:1]
    if gaps.size and np.min(gaps) <= tol:
        what = {"max": "the largest eigenvalue", "min": "the smallest eigenvalue", "all": "an eigenvalue"}[which]
        raise DomainError(f"{what} is repeated (a gap of {float(np.min(gaps)):.3g} at eigenvalues of size "
                          f"{scale:.3g}), where it is not differentiable")


def eigvals(S: np.ndarray) -> np.ndarray:
    """The eigenvalues of a symmetric matrix, ascending (a 1-D array)."""
    return np.linalg.eigvalsh(_sym(S))


def eigmax(S: np.ndarray) -> Any:
    return eigvals(S)[-1]


def eigmin(S: np.ndarray) -> Any:
    return eigvals(S)[0]


def eigvecs(S: np.ndarray) -> np.ndarray:
    """The orthonormal eigenvectors of a symmetric matrix as columns, eigenvalues ascending; DomainError where
    an eigenvalue is repeated (the eigenvectors, and the eigenvalues' derivatives, are not unique there)."""
    w, U = np.linalg.eigh(_sym(S))
    eig_gap_check(w, "all")
    return U


def eigvec_max(S: np.ndarray) -> np.ndarray:
    """The unit eigenvector of the largest eigenvalue (DomainError where that eigenvalue is repeated)."""
    w, U = np.linalg.eigh(_sym(S))
    eig_gap_check(w, "max")
    return U[:, -1]


def eigvec_min(S: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh(_sym(S))
    eig_gap_check(w, "min")
    return U[:, 0]


def softmax(x: np.ndarray) -> np.ndarray:
    """exp(x)/sum(exp(x)) without overflow (shifted by the largest entry; complex x by the same formula)."""
    if type(x) is _NDARRAY and x.dtype is _F64 and x.size:  # the fast path: the ufuncs' reductions, in place
        m = _max_reduce(x, None)
        e = np.subtract(x, m) if _isfinite(m) else x.copy()  # NaN or +inf: the plain formula says
        np.exp(e, out=e)
        e /= _sum_reduce(e, None)
        return e
    x = np.asarray(x)
    m = np.max(np.real(x)) if x.size else 0.0
    e = np.exp(x - (m if np.isfinite(m) else 0.0))
    return e / np.sum(e)


def relu(X: np.ndarray) -> np.ndarray:
    """max(x, 0) entrywise (of integers, as floats: relu(1).^-1 is 1.0)."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.inexact):
        X = X.astype(float)
    return np.where(np.real(X) > 0, X, 0 * X)


def step(X: np.ndarray) -> np.ndarray:
    """1 where x > 0, 0 where x < 0: the derivative of relu; DomainError at an entry that is exactly 0."""
    X = np.real(np.asarray(X))
    if not X.all():
        zero = X == 0
        raise DomainError(f"step: {np.count_nonzero(zero)} entr{'y is' if np.count_nonzero(zero) == 1 else 'ies are'} "
                          f"exactly 0 (first at index {_first_bad(zero)}), where relu is not differentiable")
    return (X > 0).astype(np.float64)


def norm_fro(X: np.ndarray) -> np.floating:
    """sqrt(sum |x_ij|^2), the Frobenius (or Euclidean) norm as ``np.linalg.norm(X)``, without over- or underflow.

    The plain norm first (one pass); only where it came out infinite (the squares overflowed) or below 2^-500
    (squares lost to underflow, or 0 for a nonzero X) is X rescaled by 2^-k, k the exponent of max |x_ij|, and
    ||X|| = 2^k ||X 2^-k||: exact in the scaling, as LAPACK's dnrm2 avoids over- and underflow.
    """
    r = np.linalg.norm(X)
    if r < _NORM_LO or r == np.inf:  # (NaN passes through)
        return _norm_rescaled(np.asarray(X), r, np.linalg.norm)
    return r


def norm_fro_bilinear(X: np.ndarray) -> np.number:
    """sqrt(sum x_ij^2) with no conjugation: for real X the Frobenius norm, for complex X its analytic
    continuation (what the complex-step check differentiates); rescaled as ``norm_fro`` where it over/underflows."""
    X = np.asarray(X)

    def plain(Y: np.ndarray) -> np.number:
        return np.sqrt(np.sum(Y * Y))

    r = plain(X)
    if abs(r) < _NORM_LO or not np.isfinite(r):
        return _norm_rescaled(X, r, plain)
    return r


def _norm_rescaled(X: np.ndarray, r: np.number, norm: Any) -> np.number:
    """2^k norm(X 2^-k), k the exponent of max |x_ij| (the plain result r where X is 0, empty or not finite);
    DomainError where the norm of the finite X exceeds float64's range (X / ||X|| would be zeros, not X's
    direction)."""
    a = np.max(np.abs(X)) if X.size else 0.0
    if a == 0 or not np.isfinite(a):
        return r
    k = _exponent(float(a))
    unit = norm(_ldexp(X, -k))  # of X 2^-k, whose largest entry is in [0.5, 1): no over- or underflow
    out = _ldexp(unit, k)[()]
    if not np.isfinite(out):
        raise DomainError(f"norm: the norm of a finite array is {abs(unit):.6g} * 2^{k}, beyond float64's range "
                          f"(largest entry {a:.6g})")
    return out


def norm2(X: np.ndarray) -> float:
    """The spectral norm of a matrix (the Euclidean norm of a vector)."""
    X = np.asarray(X)
    return float(norm_fro(X) if _is_vector(X) else np.linalg.norm(X, 2))


def norm_nuc(X: np.ndarray) -> float:
    """The nuclear norm (the sum of the singular values; the Euclidean norm of a vector)."""
    X = np.asarray(X)
    return float(norm_fro(X) if _is_vector(X) else np.linalg.norm(X, "nuc"))


def _first_bad(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))


def sign(X: np.ndarray) -> np.ndarray:
    """The entrywise sign of X: the derivative of |x|; DomainError if an entry is exactly 0."""
    X = np.asarray(X)
    if not X.all():
        zero = X == 0
        raise DomainError(
            f"sign: {np.count_nonzero(zero)} entr{'y is' if np.count_nonzero(zero) == 1 else 'ies are'} "
            f"exactly 0 (first at index {_first_bad(zero)}), where abs and norm1 are not differentiable"
        )
    return np.sign(X)


def check_positive(X: np.ndarray, what: str) -> np.ndarray:
    """X unchanged; DomainError naming ``what`` (e.g. "log") unless every entry is > 0."""
    X = np.asarray(X)
    ok = X > 0
    if not ok.all():
        bad = ~ok
        first = _first_bad(bad)
        raise DomainError(
            f"{what}: needs positive entries, but {np.count_nonzero(bad)} "
            f"{'is' if np.count_nonzero(bad) == 1 else 'are'} not (first at index {first}: {X[first]})"
        )
    return X


def check_nonzero(s: float | complex | np.ndarray, what: str) -> float | complex | np.ndarray:
    """The scalar divisor s unchanged; DomainError naming ``what`` if s == 0."""
    if s == 0:
        raise DomainError(f"{what}: division by zero (the divisor evaluates to 0)")
    return s


_F64, _NDARRAY = np.dtype(np.float64), np.ndarray
_max_reduce, _sum_reduce, _isfinite = np.maximum.reduce, np.add.reduce, math.isfinite


def gram(X: np.ndarray, d: np.ndarray | None = None, shift: Any = 0.0) -> np.ndarray:
    """X' diag(d) X + shift*I (X'X without d): a Hessian's Gauss-Newton form, by a symmetric rank-k update.

    Where d >= 0 (and real float64 data), W = sqrt(d) .* X once and BLAS syrk on W (half the flops of a general
    product), its upper triangle mirrored and the shift added on the diagonal of that one buffer; else the
    general product."""
    if X.dtype is not _F64 or X.ndim != 2 or (d is not None and (d.dtype is not _F64 or not d.size
                                                                 or d.min() < 0)):
        out = X.T @ (X if d is None else d[:, None] * X)
        if shift is not None and np.any(shift):
            out = out + shift * np.eye(out.shape[0])
        return out
    W = X if d is None else X * np.sqrt(d)[:, None]
    if W.flags.f_contiguous and not W.flags.c_contiguous:
        C = _dsyrk(1.0, W, trans=1)
    else:  # W' is Fortran-ordered: C = W' (W')' without a copy
        C = _dsyrk(1.0, W.T, trans=0)
    # syrk fills the upper triangle, the lower one is 0: C + C' mirrors it (one pass, twice as fast as adding
    # triu(C, 1)'), its diagonal then put back (not halved: 2*c may overflow where c does not) and shifted
    dg = np.diagonal(C).copy()
    C = C + C.T
    d = np.einsum("ii->i", C)  # a writable view of the diagonal
    d[...] = dg
    if shift is not None and (shift != 0 if type(shift) is float else np.any(shift)):
        d += shift
    return C




def msum(dense: Any = (), diag: Any = (), outer: Any = ()) -> np.ndarray:
    """A sum of n x m matrices into one output buffer, as an expert accumulates a Hessian: the dense terms (each M,
    or (c, M) for c*M) added into one fresh array (the first two by one ufunc), then each entry of ``diag`` (a
    vector, or a scalar: c*I) added on its diagonal, then each rank-1 term (c, u, v), c*u*v', by BLAS ``dger`` in
    place (no n x n temporary for diag(p) or p*p').

    Other dtypes (complex values, of the complex-step check) or shapes NumPy's in-place operators refuse: the plain
    sum (``msum_plain``), whose every step is the same formula."""
    try:
        return _msum_buffer(dense, diag, outer)
    except (TypeError, ValueError):  # a complex term into a float64 buffer; broadcasting that grows the result
        return msum_plain(dense, diag, outer)


def _msum_buffer(dense: Any, diag: Any, outer: Any) -> np.ndarray:
    terms = [t if type(t) is tuple else (1, t) for t in dense]
    if terms:
        c0, M0 = terms[0]
        if len(terms) > 1 and c0 == 1:
            c1, M1 = terms[1]
            out = np.add(M0, M1) if c1 == 1 else np.subtract(M0, M1) if c1 == -1 else np.add(M0, c1 * M1)
            terms = terms[2:]
        else:
            out = np.multiply(M0, c0)  # a fresh array, also where c0 = 1
            terms = terms[1:]
        for c, M in terms:
            if c == 1:
                out += M
            elif c == -1:
                out -= M
            else:
                out += c * M
        rank1 = outer
    else:  # no dense term: the first rank-1 term makes the buffer
        c, u, v = outer[0]
        out = np.multiply.outer(u, v)
        if c != 1:
            out *= c
        rank1 = outer[1:]
    if out.ndim != 2:
        raise ValueError("msum: not a matrix")
    if diag:
        d = np.einsum("ii->i", out)  # a writable view of the diagonal, whatever the strides
        for t in diag:
            d += t
    for c, u, v in rank1:
        if out.dtype is _F64 and u.dtype is _F64 and v.dtype is _F64 and u.ndim == 1 and v.ndim == 1 \
                and isinstance(c, (int, float, np.floating)) and (out.flags.c_contiguous or out.flags.f_contiguous):
            if out.flags.c_contiguous:  # out' is Fortran-ordered: out' + c v u' = (out + c u v')'
                _ger_into(c, v, u, out.T)
            else:
                _ger_into(c, u, v, out)
        else:
            out += c * np.multiply.outer(u, v)
    return out


def _ger_into(c: float, u: np.ndarray, v: np.ndarray, a: np.ndarray) -> None:
    """a += c*u*v' in place (a Fortran-ordered float64) by BLAS ``dger``.

    Where BLAS may use several threads, in column blocks of at most _GER_BLOCK entries, which OpenBLAS runs on the
    calling thread: a threaded ``dger`` (m*n above about 9,000) waits for its threads, and where NumPy's and SciPy's
    two OpenBLAS copies or a JAX/torch pool keep the cores busy it waited milliseconds for a 10 us update
    (measured: the Hessian of x'*A*x + log(sum(exp(x))) at n = 100 took 270x the hand-written time with default
    threads).  One call where BLAS is pinned to one thread."""
    m, n = a.shape
    step = n if _BLAS_ONE_THREAD else max(1, _GER_BLOCK // max(m, 1))
    for j in range(0, n, step):
        blk = a[:, j:j + step]
        r = _dger(c, u, v[j:j + step], a=blk, overwrite_a=1)
        if r is not blk:  # pragma: no cover - f2py copied (it returns blk itself where it wrote in place)
            blk[...] = r


_GER_BLOCK = 8192  # OpenBLAS runs ger on the calling thread at m*n <= 8192 (its threshold: 2048-2304 x 4)
_BLAS_ONE_THREAD = any(os.environ.get(k) == "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")) or (
    hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) == 1)


def msum_plain(dense: Any = (), diag: Any = (), outer: Any = (), np_: Any = np) -> Any:
    """msum by the array's own operators (complex values; the other backends, with their ``_np``): the dense terms,
    then diag(t) (t a vector) or t*I (a scalar) for each entry of ``diag``, then c*outer(u, v) for each rank-1 term."""
    out = None
    for t in dense:
        c, M = t if type(t) is tuple else (1, t)
        term = M if c == 1 else -M if c == -1 else c * M
        out = term if out is None else out + term
    for c, u, v in outer:
        term = np_.outer(u, v)
        term = term if c == 1 else -term if c == -1 else c * term
        out = term if out is None else out + term
    for t in diag:
        out = out + (np_.diag(t) if getattr(t, "ndim", 0) else t * np_.eye(out.shape[-1]))
    return out


def dsigmoid(u: Any) -> Any:
    """sigmoid(u) .* sigmoid(-u) (the logistic function's derivative) from one exp(-|u|): t / (1 + t)^2.

    Exact where an expert's s .* (1 - s) is not (s rounds to 1 for u > 37, and 1 - s to 0, where the true value is
    e^-u) and never overflows; faster than two expit calls, or even one (scipy's expit is a scalar loop).  Complex
    values (the complex-step check): the same even function continued analytically, |u| as u sign(Re u)."""
    if type(u) is _NDARRAY and u.dtype is _F64:
        t = np.abs(u)
        np.negative(t, out=t)
        np.exp(t, out=t)
        d = t + 1.0
        d *= d
        t /= d
        return t
    if np.iscomplexobj(u):
        t = np.exp(-(u * np.sign(np.real(u))))
    else:
        t = np.exp(-np.abs(u))
    return t / ((1 + t) * (1 + t))
