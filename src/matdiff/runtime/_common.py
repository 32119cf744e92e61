"""What every array backend shares: the messages of the domain checks, the adjugate by the SVD.

The checks read values only where the backend can give them (``ops.value(x)`` is None for a traced,
vmapped or lazy array): there they raise the very DomainError the NumPy code raises, by handing the
offending value to NumPy's check; elsewhere (inside ``jax.jit``, ``torch.func.vmap``) they are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DomainError
from . import factor as _npF
from . import kernels as _npK
from . import numpy as _npR

EPS = float(np.finfo(np.float64).eps)
ADJ_LU_MIN_PIVOT_RATIO = _npK._ADJ_LU_MIN_PIVOT_RATIO
TOP_SV_GAP = _npK._TOP_SV_GAP
POLAR_RANK = _npK._POLAR_RANK


def _numpy_error(fn: Any, *args: Any, **kwargs: Any) -> DomainError:
    """The DomainError that NumPy's code raises for fn(*args) (the same words on every backend)."""
    try:
        fn(*args, **kwargs)
    except DomainError as err:
        return err
    raise AssertionError(f"{fn.__name__} raised no DomainError")  # pragma: no cover


def check_pivots(u: np.ndarray, what: str) -> None:
    """DomainError unless the LU pivots' moduli u (last axis; leading axes a batch) show A invertible.

    The test of matdiff.runtime.factor.LU.check, whose message comes from that very code (the LU of
    diag(u) has the pivots u).
    """
    n = u.shape[-1]
    lo, hi = u.min(axis=-1), u.max(axis=-1)
    bad = lo <= 10 * n * EPS * hi
    if not np.any(bad):
        return
    i = int(np.argmax(np.ravel(bad)))
    err = _numpy_error(lambda: _npF.lu(np.diag(u.reshape(-1, n)[i].astype(float))).check(what))
    raise DomainError(f"{err} (batch element {i})") if u.ndim > 1 else err


def not_spd(column: int | None = None) -> DomainError:
    """NumPy's error for a Cholesky factorization failing at the (1-based) column."""
    k = column or 1
    return _numpy_error(_npF.chol, np.diag([1.0] * (k - 1) + [-1.0]))


def logdet_sign_error(det: float) -> DomainError:
    return _numpy_error(_npF.logdet, _npF.lu(np.array([[det]])))


def check_top_sv(s0: float, s1: float) -> None:
    """NumPy's top_sv test of the two largest singular values (its error, from diag(s0, s1))."""
    if s0 == 0 or s0 - s1 <= TOP_SV_GAP * s0:
        raise _numpy_error(_npK.top_sv, np.diag([s0, s1]) if s0 else np.zeros((2, 2)))


def check_polar(s_min: float, s_max: float) -> None:
    if not s_min > POLAR_RANK * s_max:
        raise _numpy_error(_npK.polar, np.diag([s_max, s_min]))


def check_vector_norm(nrm: float, kernel: Any) -> None:
    """NumPy's error of ``kernel`` (``kernels.top_sv`` or ``kernels.polar``) for a vector of norm 0."""
    if nrm == 0:
        raise _numpy_error(kernel, np.zeros(2))


# the predicate of each guard kind, True where the value passes (computed on the backend's arrays)
def guard_ok(xp: Any, kind: str, v: Any) -> Any:
    if kind == "nonzero_norm":
        return xp.any(v != 0)
    if kind == "no_zero_entry":
        return xp.all(v != 0)
    if kind == "positive":
        return xp.all(xp.real(v) > 0) if xp.isdtype(v.dtype, "complex floating") else xp.all(v > 0)
    return None


raise_check = _npR.check  # NumPy's check of a (host) value: raises the DomainError the NumPy code raises
numpy_check_positive = _npR.check_positive


def not_finite_error(name: str) -> DomainError:
    return _numpy_error(_npR.finite_inputs, **{name: np.array([np.nan])})


def nonzero_error(what: str) -> DomainError:
    return _numpy_error(_npR.nonzero, 0.0, what)


def others_products(xp: Any, s: Any) -> Any:
    """prod_{j != i} s_j along the last axis, from prefix and suffix products (exact where s_i = 0)."""
    ones = xp.ones_like(s[..., :1])
    prefix = xp.concat([ones, xp.cumulative_prod(s[..., :-1], axis=-1)], axis=-1)
    rev = xp.flip(s[..., 1:], axis=-1)
    suffix = xp.concat([xp.flip(xp.cumulative_prod(rev, axis=-1), axis=-1), ones], axis=-1)
    return prefix * suffix


# ------------------------------------------------------------------------------- extreme scales
# A Frobenius / Euclidean norm below 2^(minexp/2 + 11) (2^-500 in float64, as runtime.kernels._NORM_LO) may
# have lost squares to underflow; one that is infinite overflowed: both are recomputed rescaled by a power of 2.
def norm_lo(xp: Any, dtype: Any) -> float:
    """The smallest plain norm trusted in dtype (its real dtype for a complex one)."""
    tiny = float(xp.finfo(dtype).smallest_normal)
    return 2.0 ** (np.frexp(tiny)[1] // 2 + 11)


def tiny(xp: Any, dtype: Any) -> float:
    return float(xp.finfo(dtype).smallest_normal)


def _real_dtype(xp: Any, x: Any) -> Any:
    """The real dtype of x's (float64 for complex128, float32 for complex64)."""
    if x.dtype == xp.complex128:
        return xp.float64
    return xp.float32 if x.dtype == xp.complex64 else x.dtype


def pow2(xp: Any, e: Any, like: Any) -> Any:
    """2^e for an integer-valued floating array e with |e| <= 1023, exactly (in like's real dtype and device).

    NumPy: ldexp; other libraries: pow(2, e), exact for normal results (XLA flushes subnormal ones to 0, so
    callers keep each factor normal: ``times_pow2`` splits the exponent in two)."""
    if xp is np:
        return np.ldexp(1.0, np.asarray(e).astype(np.int64)).astype(_real_dtype(xp, like))
    two = xp.asarray(2.0, dtype=_real_dtype(xp, like), device=_device(xp, like))
    return xp.pow(two, xp.astype(e, _real_dtype(xp, like)))


def times_pow2(xp: Any, X: Any, e: Any) -> Any:
    """X 2^e, exact up to over- or underflow of the result, in two factors 2^h 2^(e-h), h = floor(e/2) (each a
    normal number for |e| <= 2044); e broadcasts against X (a batch: shape (B, 1, 1) for matrices)."""
    h = xp.floor(e / 2)
    return X * pow2(xp, h, X) * pow2(xp, e - h, X)


def exponent(xp: Any, a: Any) -> Any:
    """round(log2 a) for finite a > 0 (0 elsewhere) as a floating array: a 2^-exponent(a) lies within about
    [2^-0.5, 2^0.5] (log2 may be off by an ulp: only that the scale is a power of 2 matters)."""
    ok = xp.isfinite(a) & (a > 0)
    safe = xp.where(ok, a, xp.ones_like(a))
    return xp.where(ok, xp.round(xp.log2(safe)), xp.zeros_like(a))


def prod_scaled(xp: Any, d: Any) -> tuple[Any, Any]:
    """(m, E) with prod(d) = m 2^E along the last axis, neither over- nor underflowing: d_i = m_i 2^(e_i), e_i =
    round(log2 |d_i|) (0 where d_i is 0 or not finite: then m is 0, or not finite, as prod(d)), the m_i ~ 1
    multiplied. The sign (phase) of prod(d) is m's."""
    e = exponent(xp, xp.abs(d))
    return xp.prod(times_pow2(xp, d, -e), axis=-1), xp.sum(e, axis=-1)


def underflows(xp: Any, out: Any, X: Any) -> Any:
    """Per matrix (leading axes a batch): True where out = X 2^e lost everything to underflow although X is not 0
    (its largest entry below the smallest normal number)."""
    ax = (-2, -1)
    return (xp.max(xp.abs(out), axis=ax) < tiny(xp, _real_dtype(xp, out))) & xp.any(X != 0, axis=ax)


def underflow_error(what: str) -> DomainError:
    """NumPy's error for an adjugate (or its derivative) that underflows as a whole."""
    return _numpy_error(_npK._unscale, np.ones((1, 1)), -2000, what)


def svd_scale(xp: Any, s: Any) -> tuple[Any, Any]:
    """(s 2^-k, k) along the last axis, k = exponent(s_0) (s_0 the largest): the products of the scaled singular
    values that adj(S) and its derivative take do not overflow (as runtime.kernels._svd_scale)."""
    k = exponent(xp, s[..., 0])
    return times_pow2(xp, s, -k[..., None]), k


def svd_adj(xp: Any, U: Any, s: Any, Vh: Any) -> Any:
    """adj(A) = det(U) det(V^H) V adj(S) U^H from the full SVD A = U S V^H (leading axes a batch)."""
    X, e = svd_adj_scaled(xp, U, s, Vh)
    return times_pow2(xp, X, e[..., None, None])


def svd_adj_scaled(xp: Any, U: Any, s: Any, Vh: Any) -> tuple[Any, Any]:
    """(X, e) with adj(A) = X 2^e (e per matrix), from the full SVD A = U S V^H (leading axes a batch): adj(S) =
    2^(k(n-1)) adj(S 2^-k), k the exponent of s_0, so that no product of singular values overflows."""
    c = xp.linalg.det(U) * xp.linalg.det(Vh)
    if xp.isdtype(c.dtype, "complex floating"):
        c = c / xp.abs(c)
    else:
        c = xp.where(c > 0, xp.ones_like(c), -xp.ones_like(c))
    n = s.shape[-1]
    s, k = svd_scale(xp, s)
    d = others_products(xp, s)
    V = _ct(xp, Vh)
    Uh = _ct(xp, U)
    return xp.matmul(c[..., None, None] * V * d[..., None, :], Uh), k * (n - 1)


def svd_adj_d(xp: Any, U: Any, s: Any, Vh: Any, E: Any) -> Any:
    """adj'(A)[E] = c V Dσ(U^H E V) U^H from the full SVD A = U S V^H (leading axes a batch), exact at any rank."""
    X, e = svd_adj_d_scaled(xp, U, s, Vh, E)
    return times_pow2(xp, X, e[..., None, None])


def svd_adj_d_scaled(xp: Any, U: Any, s: Any, Vh: Any, E: Any) -> tuple[Any, Any]:
    """(X, e) with adj'(A)[E] = X 2^e = c V Dσ(U^H E V) U^H from the full SVD A = U S V^H (leading axes a batch):
    Dσ(F) = diag(P diag(F)) - P .* F with P_ij = prod_{m != i, j} s_m (P_ii = 0), as runtime.kernels.adj_d_svd,
    P formed from S 2^-k and e = k(n-2)."""
    c = xp.linalg.det(U) * xp.linalg.det(Vh)
    cplx = xp.isdtype(c.dtype, "complex floating")
    c = c / xp.abs(c) if cplx else xp.where(c > 0, xp.ones_like(c), -xp.ones_like(c))
    n = s.shape[-1]
    s, k = svd_scale(xp, s)
    eye = xp.eye(n, dtype=s.dtype, device=_device(xp, s))
    S = xp.where(eye > 0, xp.ones_like(eye), s[..., None, :] + 0 * eye)  # row i: s with s_i replaced by 1
    P = others_products(xp, S) * (1 - eye)
    V = _ct(xp, Vh)
    Uh = _ct(xp, U)
    dtype = xp.result_type(U.dtype, E.dtype)
    E = xp.astype(E, dtype) if E.dtype != dtype else E
    F = xp.matmul(xp.matmul(xp.astype(Uh, dtype), E), xp.astype(V, dtype))
    P = xp.astype(P, dtype)
    Pd = xp.matmul(P, xp.linalg.diagonal(F)[..., None])[..., 0]  # P diag(F)
    D = Pd[..., :, None] * xp.astype(eye, dtype) - P * F
    cv = xp.astype(c, dtype)[..., None, None] * xp.astype(V, dtype)
    return xp.matmul(xp.matmul(cv, D), xp.astype(Uh, dtype)), k * (n - 2)


def _ct(xp: Any, M: Any) -> Any:
    """M^H (the conjugate transpose of the last two axes)."""
    t = xp.matrix_transpose(M)
    return xp.conj(t) if xp.isdtype(M.dtype, "complex floating") else t


def _device(xp: Any, x: Any) -> Any:
    try:
        from array_api_compat import device

        return device(x)
    except ImportError:  # pragma: no cover - jax arrays have .device
        return getattr(x, "device", None)



def gram(X: Any, d: Any = None, shift: Any = 0.0, eye: Any = np.eye) -> Any:
    """X' diag(d) X + shift*I (X'X without d) by the array's own operators (batch, dask, jax, torch, cupy; the
    NumPy kernel uses a symmetric rank-k update); ``eye``: the backend's ``_np.eye``."""
    out = X.T @ (X if d is None else d[:, None] * X)
    if isinstance(shift, (int, float)) and shift == 0:
        return out
    return out + shift * eye(out.shape[-1])
