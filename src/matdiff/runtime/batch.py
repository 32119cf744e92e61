"""NumPy over a leading batch axis, with no Python loop over the batch.

Generated code is written for one example: ``A @ x``, ``X.T``, ``x.ndim == 1``, ``A.shape[0]``.
Run in the namespace of this module, its batched arguments are :class:`BArray` s: a stack with the
batch on axis 0 that *looks* like one example (``shape``, ``ndim``, ``.T``, ``[:, None]`` and
``@`` are per example) while every operation is one NumPy call on the whole stack (broadcasting
aligns per-example axes; ``@`` is a stacked matmul; ufuncs, scipy's ``expit`` included, go through
``__array_ufunc__``).  Arguments that are not batched stay plain arrays and broadcast.

Factorizations of a batch of matrices use NumPy's stacked LAPACK calls (``np.linalg.solve``,
``inv``, ``cholesky``, ``slogdet``, ``det``, ``svd``): NumPy has no stacked LU, so a batched
"LU" keeps A and solves with ``np.linalg.solve`` (an LU each time), and the singularity test is the
exact reciprocal condition number in the 1-norm (LAPACK's estimate in the unbatched code).  Checks
test every example and name the first that fails.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.linalg
from scipy.special import expit

from ..errors import DomainError
from . import _common as C
from . import factor as _npF
from . import kernels as _npK
from . import numpy as _npR
from .protocol import BadShapes


class BArray:
    """A batch of arrays (axis 0) that generated code sees as one array of the per-example shape."""

    __slots__ = ("data",)
    __array_priority__ = 1000

    def __init__(self, data: np.ndarray):
        self.data = data

    # per-example view
    @property
    def ndim(self) -> int:
        return self.data.ndim - 1

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def T(self) -> BArray:
        return BArray(np.swapaxes(self.data, -1, -2)) if self.ndim == 2 else self

    def __getitem__(self, key: Any) -> BArray:
        key = key if isinstance(key, tuple) else (key,)
        return BArray(self.data[(slice(None),) + key])

    def sum(self) -> BArray:
        return BArray(self.data.sum(axis=tuple(range(1, self.data.ndim))))

    def __repr__(self) -> str:
        return f"BArray(batch={self.data.shape[0]}, shape={self.shape})"

    # every ufunc (operators, np.exp, scipy.special.expit...) on the aligned stacks
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or "out" in kwargs:
            return NotImplemented
        if ufunc is np.matmul:  # ndarray @ BArray comes here, before __rmatmul__
            return matmul(*inputs)
        out = ufunc(*_aligned(inputs), **kwargs)
        return tuple(BArray(o) for o in out) if isinstance(out, tuple) else BArray(out)

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("a batched value cannot be used as one NumPy array (a function missing from the "
                        "batched namespace?)")

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a batched value is ambiguous")

    def __add__(self, o: Any) -> Any:
        return np.add(self, o)

    def __radd__(self, o: Any) -> Any:
        return np.add(o, self)

    def __sub__(self, o: Any) -> Any:
        return np.subtract(self, o)

    def __rsub__(self, o: Any) -> Any:
        return np.subtract(o, self)

    def __mul__(self, o: Any) -> Any:
        return np.multiply(self, o)

    def __rmul__(self, o: Any) -> Any:
        return np.multiply(o, self)

    def __truediv__(self, o: Any) -> Any:
        return np.true_divide(self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return np.true_divide(o, self)

    def __pow__(self, o: Any) -> Any:
        return np.power(self, o)

    def __rpow__(self, o: Any) -> Any:
        return np.power(o, self)

    def __neg__(self) -> Any:
        return np.negative(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return np.equal(self, o)

    __hash__ = None  # type: ignore[assignment]

    def __matmul__(self, o: Any) -> Any:
        return matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return matmul(o, self)


def _nd(x: Any) -> int:
    return x.data.ndim - 1 if isinstance(x, BArray) else np.ndim(x)


def _aligned(args: Sequence[Any]) -> list[Any]:
    """The stacks of the arguments, with per-example axes right-aligned across the batch axis."""
    k = max(_nd(a) for a in args)
    out = []
    for a in args:
        if isinstance(a, BArray):
            d = a.data
            pad = k - (d.ndim - 1)
            out.append(d.reshape(d.shape[:1] + (1,) * pad + d.shape[1:]) if pad else d)
        else:
            out.append(a)
    return out


def data(x: Any) -> Any:
    return x.data if isinstance(x, BArray) else x


def matmul(a: Any, b: Any) -> Any:
    """a @ b per example: matrix or vector (1-D) operands, either batched or not."""
    if not isinstance(a, BArray) and not isinstance(b, BArray):
        return a @ b
    da, db = _nd(a), _nd(b)
    A, B = data(a), data(b)
    if da == 2 and db == 2 and isinstance(a, BArray) and not isinstance(b, BArray):  # one gemm for the stack
        n, m, k = A.shape[0], A.shape[1], A.shape[2]
        return BArray((A.reshape(n * m, k) @ B).reshape(n, m, B.shape[1]))
    if da == 1:
        A = A[..., None, :]
    if db == 1:
        B = B[..., :, None]
    out = np.matmul(A, B)
    if db == 1:
        out = out[..., 0]
    if da == 1:
        out = out[..., 0, :] if db != 1 else out[..., 0]
    return BArray(out)


def _axes(x: BArray) -> tuple[int, ...]:
    return tuple(range(1, x.data.ndim))


def _first(bad: np.ndarray) -> int:
    return int(np.argmax(np.ravel(bad)))


def _element_error(i: int, err: Exception) -> DomainError:
    return DomainError(f"{err} (batch element {i})")


# ------------------------------------------------------------------------------------- _np
def _reshape(x: Any, shape: Any) -> Any:
    if not isinstance(x, BArray):
        return np.reshape(x, shape)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return BArray(x.data.reshape(x.data.shape[:1] + shape))


def _sum(x: Any) -> Any:
    return x.sum() if isinstance(x, BArray) else np.sum(x)


def _trace(x: Any) -> Any:
    return BArray(np.trace(x.data, axis1=-2, axis2=-1)) if isinstance(x, BArray) else np.trace(x)


def _diag(x: Any) -> Any:
    if not isinstance(x, BArray):
        return np.diag(x)
    if x.ndim == 1:
        return BArray(x.data[..., :, None] * np.eye(x.shape[0], dtype=x.dtype))
    return BArray(np.diagonal(x.data, axis1=-2, axis2=-1).copy())


def _outer(a: Any, b: Any) -> Any:
    if not isinstance(a, BArray) and not isinstance(b, BArray):
        return np.outer(a, b)
    return BArray(data(a)[..., :, None] * data(b)[..., None, :])


def _norm(x: Any) -> Any:
    """The Frobenius (Euclidean) norm of each element: the plain norms in one call, and those that came out
    infinite or below 2^-500 (squares over- or underflowed) again by NumPy's rescaling ``kernels.norm_fro``."""
    if not isinstance(x, BArray):
        return _npK.norm_fro(x)
    d = x.data
    flat = d.reshape(d.shape[0], -1)
    with np.errstate(over="ignore", under="ignore"):  # those elements are done again, rescaled
        r = np.linalg.norm(flat, axis=1)
    bad = (r < _npK._NORM_LO) | (r == np.inf)
    for i in np.flatnonzero(bad) if flat.shape[1] else ():
        try:
            r[i] = _npK.norm_fro(flat[i])
        except DomainError as err:
            raise _element_error(int(i), err) from None
    return BArray(r)


def _matrix_power(x: Any, k: int) -> Any:
    return BArray(np.linalg.matrix_power(x.data, k)) if isinstance(x, BArray) else np.linalg.matrix_power(x, k)


NP = SimpleNamespace(
    # NumPy's ufuncs, reused (NUMPY_REUSED): on a BArray they act on the whole stack (__array_ufunc__)
    exp=np.exp, log=np.log, sin=np.sin, cos=np.cos, tanh=np.tanh, sqrt=np.sqrt, abs=np.abs, sign=np.sign,
    logaddexp=np.logaddexp,
    # NumPy's constructors, reused: an identity or ones is the same for every example, and broadcasts
    eye=np.eye, ones=np.ones,
    # per example on a BArray, NumPy's on a plain array
    sum=_sum, trace=_trace, diag=_diag, outer=_outer, reshape=_reshape,
    linalg=SimpleNamespace(matrix_power=_matrix_power))


# --------------------------------------------------------------------------------- factorizations
def _float(a: np.ndarray) -> np.ndarray:
    return a if a.dtype in (np.float64, np.complex128) else a.astype(np.complex128 if a.dtype.kind == "c" else
                                                                      np.float64)


class BLU:
    """A batch of square matrices to solve with (np.linalg's stacked LU, computed per call)."""

    __slots__ = ("a", "_inv", "_rcond")

    def __init__(self, A: np.ndarray):
        self.a = _float(A)
        self._inv: np.ndarray | None = None
        self._rcond: np.ndarray | None = None

    def inverse(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(inv(A) or None where some A is exactly singular, reciprocal condition numbers in the 1-norm)."""
        if self._rcond is None:
            try:
                self._inv = np.linalg.inv(self.a)
                n1 = np.abs(self.a).sum(axis=-2).max(axis=-1)
                ni = np.abs(self._inv).sum(axis=-2).max(axis=-1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    self._rcond = np.where(np.isfinite(ni), 1.0 / (n1 * ni), 0.0)
            except np.linalg.LinAlgError:
                self._inv = None
                self._rcond = np.where(np.linalg.det(self.a) == 0, 0.0, 1.0)
                if np.all(self._rcond):  # pragma: no cover - LAPACK refused, det did not see it
                    self._rcond = np.zeros(self.a.shape[0])
        return self._inv, self._rcond

    def check(self, what: Any = "solve") -> None:
        inv, rcond = self.inverse()
        tol = 10 * self.a.shape[-1] * C.EPS
        bad = ~(rcond >= tol)
        if np.any(bad):
            i = _first(bad)
            if rcond[i] == 0:
                raise DomainError(f"{_npK.name_of(what)}: the matrix is singular (batch element {i})")
            raise DomainError(f"{_npK.name_of(what)}: the matrix is singular to working precision (reciprocal "
                              f"condition number {rcond[i]:.3g} < {tol:.3g}) (batch element {i})")


class BChol:
    """A batch of Cholesky factors."""

    __slots__ = ("a", "c")

    def __init__(self, A: np.ndarray):
        self.a = _float(A)
        try:
            self.c = np.linalg.cholesky(self.a)
        except np.linalg.LinAlgError:
            lam = np.linalg.eigvalsh(self.a)[..., 0]
            raise _element_error(_first(~(lam > 0)), C.not_spd()) from None


def _lu(A: Any) -> Any:
    return BLU(A.data) if isinstance(A, BArray) else _npF.lu(A)


def _chol(A: Any) -> Any:
    return BChol(A.data) if isinstance(A, BArray) else _npF.chol(A)


def _solve_unbatched(F: Any, B: BArray, transposed: bool) -> BArray:
    """One factorization, a batch of right-hand sides: solved as the columns of one matrix."""
    f = _npF.solve_t if transposed else _npF.solve
    d = B.data
    n = d.shape[0]
    if d.ndim == 2:  # (batch, n) vectors
        return BArray(f(F, d.T).T)
    m, k = d.shape[1], d.shape[2]
    x = f(F, np.moveaxis(d, 0, -1).reshape(m, k * n))
    return BArray(np.moveaxis(x.reshape(m, k, n), -1, 0))


def _solve_batched(F: BLU | BChol, B: Any, transposed: bool) -> BArray:
    A = F.a
    if transposed and isinstance(F, BLU):
        A = np.swapaxes(A, -1, -2)
    if isinstance(F, BLU):
        F.check()
    b = data(B)
    vec = _nd(B) == 1
    if vec:
        b = b[..., None]
    x = np.linalg.solve(A, b)
    return BArray(x[..., 0] if vec else x)


def _solve(F: Any, B: Any) -> Any:
    if isinstance(F, (BLU, BChol)):
        return _solve_batched(F, B, False)
    if isinstance(B, BArray):
        return _solve_unbatched(F, B, False)
    return _npF.solve(F, B)


def _solve_t(F: Any, B: Any) -> Any:
    if isinstance(F, (BLU, BChol)):
        return _solve_batched(F, B, True)
    if isinstance(B, BArray):
        return _solve_unbatched(F, B, True)
    return _npF.solve_t(F, B)


def _inv(F: Any) -> Any:
    if isinstance(F, BChol):
        x = np.linalg.inv(F.a)
        return BArray((x + np.swapaxes(x, -1, -2).conj()) / 2)
    if isinstance(F, BLU):
        F.check(_npF.inv)
        return BArray(F._inv)
    return _npF.inv(F)


def _det(F: Any) -> Any:
    if isinstance(F, BChol):
        return BArray(np.prod(np.diagonal(F.c, axis1=-2, axis2=-1).real, axis=-1) ** 2)
    if isinstance(F, BLU):
        return BArray(np.linalg.det(F.a))
    return _npF.det(F)


def _logdet(F: Any) -> Any:
    if isinstance(F, BChol):
        return BArray(2.0 * np.log(np.diagonal(F.c, axis1=-2, axis2=-1).real).sum(axis=-1))
    if not isinstance(F, BLU):
        return _npF.logdet(F)
    sign, logabs = np.linalg.slogdet(F.a)
    if F.a.dtype == np.complex128:
        if np.any(sign == 0):
            raise _element_error(_first(sign == 0), DomainError("logdet: det(A) = 0 (the matrix is singular)"))
        return BArray(logabs + np.log(sign))
    bad = ~(sign > 0)
    if np.any(bad):
        i = _first(bad)
        raise _element_error(i, C.logdet_sign_error(float(sign[i] * np.exp(logabs[i]))))
    return BArray(logabs)


def _det_times(F: BLU | BChol, A: np.ndarray, Y: np.ndarray, idx: np.ndarray, what: Any) -> np.ndarray:
    """det(A_j) Y_j for the stack A (batch elements idx): the plain products, and where det(A_j) itself is not a
    finite normal number (over- or underflowed while det(A) Y may not) NumPy's scaled ``factor._times_det`` for
    that element (a DomainError naming it where the result underflows as a whole)."""
    if isinstance(F, BChol):
        det = np.prod(np.diagonal(F.c[idx], axis1=-2, axis2=-1).real, axis=-1) ** 2
    else:
        with np.errstate(over="ignore", under="ignore"):  # those elements are done again, scaled
            det = np.linalg.det(A)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = det[:, None, None] * Y
    bad = ~(np.isfinite(det) & (np.abs(det) >= _npK._TINY))
    for j in np.flatnonzero(bad):
        if not (np.isfinite(A[j]).all() and np.isfinite(Y[j]).all()):
            continue  # NaN or Inf input: propagated as above
        try:
            f = _npF.chol(A[j]) if isinstance(F, BChol) else _npF.lu(A[j])
            out[j] = _npF._times_det(f, Y[j], what)
        except DomainError as err:
            raise _element_error(int(idx[j]), err) from None
    return out


def _unscale_svd(X: np.ndarray, e: np.ndarray, idx: np.ndarray, what: Any) -> np.ndarray:
    """X 2^e per element (an SVD adjugate at unit scale); DomainError naming the element where it underflows."""
    out = C.times_pow2(np, X, e[:, None, None])
    lost = C.underflows(np, out, X)
    if np.any(lost):
        raise _element_error(int(idx[_first(lost)]), C.underflow_error(what))
    return out


def _adj(F: Any) -> Any:
    if isinstance(F, BChol):
        return BArray(_det_times(F, F.a, _inv(F).data, np.arange(F.a.shape[0]), _npF.adj))
    if not isinstance(F, BLU):
        return _npF.adj(F)
    A = F.a
    if A.shape[-1] == 1:
        return BArray(np.ones_like(A))
    inv, rcond = F.inverse()
    good = rcond > C.ADJ_LU_MIN_PIVOT_RATIO if inv is not None else np.zeros(A.shape[0], dtype=bool)
    out = np.empty_like(A)
    if np.any(good):
        out[good] = _det_times(F, A[good], inv[good], np.flatnonzero(good), _npF.adj)  # type: ignore[index]
    rest = ~good
    if np.any(rest):
        sub = A[rest]
        finite = np.isfinite(sub).all(axis=(-2, -1))
        res = np.full_like(sub, np.nan)
        if np.any(finite):
            U, s, Vh = np.linalg.svd(sub[finite])
            res[finite] = _unscale_svd(*C.svd_adj_scaled(np, U, s, Vh), np.flatnonzero(rest)[finite], _npF.adj)
        out[rest] = res
    return BArray(out)


def _adj_d(F: Any, E: Any) -> Any:
    """adj'(A)[E] per batch element: from the inverse where A is well conditioned (as ``_adj``), else by the SVD."""
    if not isinstance(F, (BLU, BChol)):
        if not isinstance(E, BArray):
            return _npF.adj_d(F, E)
        return BArray(np.stack([_npF.adj_d(F, e) for e in E.data]))  # one matrix, a batch of directions
    A, e = F.a, data(E)
    dtype = np.result_type(A, e, np.float64)
    e = np.broadcast_to(e, A.shape).astype(dtype)
    A = A.astype(dtype)
    if A.shape[-1] == 1:
        return BArray(np.zeros_like(e))
    if isinstance(F, BChol):
        inv, good = np.linalg.inv(A), np.ones(A.shape[0], dtype=bool)
    else:
        inv, rcond = F.inverse()
        good = rcond > C.ADJ_LU_MIN_PIVOT_RATIO if inv is not None else np.zeros(A.shape[0], dtype=bool)
    out = np.empty_like(e)
    if np.any(good):
        X = inv[good].astype(dtype)  # type: ignore[index]
        XE = X @ e[good]
        tr = np.trace(XE, axis1=-2, axis2=-1)[:, None, None]
        out[good] = _det_times(F, A[good], tr * X - XE @ X, np.flatnonzero(good), _npF.adj_d)
        big = np.max(np.abs(X), axis=(-2, -1))
        far = np.isfinite(big) & (big > 0) & (np.abs(np.frexp(big)[1]) >= 256)
        for j in np.flatnonzero(good)[far]:  # X E X underflowed (A ~ 1e200): NumPy's kernel, at unit scale
            try:
                f = _npF.chol(A[j]) if isinstance(F, BChol) else _npF.lu(A[j])
                out[j] = _npF.adj_d(f, e[j])
            except DomainError as err:
                raise _element_error(int(j), err) from None
    rest = ~good
    if np.any(rest):
        sub, es = A[rest], e[rest]
        finite = np.isfinite(sub).all(axis=(-2, -1)) & np.isfinite(es).all(axis=(-2, -1))
        res = np.full_like(es, np.nan)
        if np.any(finite):
            U, s, Vh = np.linalg.svd(sub[finite])
            res[finite] = _unscale_svd(*C.svd_adj_d_scaled(np, U, s, Vh, es[finite]), np.flatnonzero(rest)[finite],
                                       _npF.adj_d)
        out[rest] = res
    return BArray(out)


def _lu_check(F: Any, what: Any = "solve") -> None:
    if isinstance(F, (BLU, _npF.LU)):
        F.check(what)


F = SimpleNamespace(lu=_lu, chol=_chol, solve=_solve, solve_t=_solve_t, inv=_inv, det=_det, logdet=_logdet,
                    adj=_adj, adj_d=_adj_d, LU=SimpleNamespace(check=_lu_check))


# ------------------------------------------------------------------------------------- kernels
def _is_vector(x: BArray) -> bool:
    return x.ndim < 2 or min(x.shape) == 1


def _unit(x: BArray, kernel: Callable[[Any], Any]) -> BArray:
    """x / ||x|| per element; where one is 0, the DomainError of NumPy's ``kernel`` naming the element."""
    nrm = _norm(x).data
    if np.any(nrm == 0):
        i = _first(nrm == 0)
        try:
            C.check_vector_norm(0.0, kernel)
        except DomainError as err:
            raise _element_error(i, err) from None
    return BArray(x.data / nrm.reshape(nrm.shape + (1,) * x.ndim))


def _sign(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.sign(X)
    zero = X.data == 0
    if np.any(zero):
        i = int(np.argmax(zero.reshape(zero.shape[0], -1).any(axis=1)))
        try:
            _npK.sign(X.data[i])
        except DomainError as err:
            raise _element_error(i, err) from None
    return BArray(np.sign(X.data))


def _polar(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.polar(X)
    X = BArray(_float(X.data))
    if _is_vector(X):
        return _unit(X, _npK.polar)
    U, s, Vh = np.linalg.svd(X.data, full_matrices=False)
    bad = ~(s[:, -1] > C.POLAR_RANK * s[:, 0])
    if np.any(bad):
        i = _first(bad)
        try:
            C.check_polar(float(s[i, -1]), float(s[i, 0]))
        except DomainError as err:
            raise _element_error(i, err) from None
    return BArray(U @ Vh)


def _top_sv(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.top_sv(X)
    X = BArray(_float(X.data))
    if _is_vector(X):
        return _unit(X, _npK.top_sv)
    U, s, Vh = np.linalg.svd(X.data, full_matrices=False)
    bad = (s[:, 0] == 0) | (s[:, 0] - s[:, 1] <= C.TOP_SV_GAP * s[:, 0])
    if np.any(bad):
        i = _first(bad)
        try:
            C.check_top_sv(float(s[i, 0]), float(s[i, 1]))
        except DomainError as err:
            raise _element_error(i, err) from None
    return BArray(U[:, :, 0, None] * Vh[:, None, 0, :])


def _norm2(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.norm2(X)
    if _is_vector(X):
        return _norm(X)
    return BArray(np.linalg.svd(X.data, compute_uv=False)[:, 0])


def _norm_nuc(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.norm_nuc(X)
    if _is_vector(X):
        return _norm(X)
    return BArray(np.linalg.svd(X.data, compute_uv=False).sum(axis=-1))


def _logsumexp(x: Any) -> Any:
    """log(sum(exp(.))) of each element of the batch, shifted by each one's largest entry."""
    if not isinstance(x, BArray):
        return _npK.logsumexp(x)
    flat = x.data.reshape(x.data.shape[0], -1)
    m = np.max(np.real(flat), axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return BArray(m[:, 0] + np.log(np.sum(np.exp(flat - m), axis=1)))


def _gram(X: Any, d: Any = None, shift: Any = 0.0) -> Any:
    """X' diag(d) X + shift*I: NumPy's kernel (a symmetric rank-k update) where nothing is a BArray."""
    if not isinstance(X, BArray) and not isinstance(d, BArray) and not isinstance(shift, BArray):
        return _npK.gram(X, d, shift)
    return C.gram(X, d, shift, NP.eye)


def _msum(dense: Any = (), diag: Any = (), outer: Any = ()) -> Any:
    """A sum of matrices, diagonals and rank-1 terms: NumPy's kernel (one buffer) where nothing is a BArray."""
    flat = [a for t in (*dense, *diag, *outer) for a in (t if type(t) is tuple else (t,))]
    if not any(isinstance(a, BArray) for a in flat):
        return _npK.msum(dense, diag, outer)
    return _npK.msum_plain(dense, diag, outer, NP)


def _dsigmoid(u: Any) -> Any:
    """sigmoid(u) .* sigmoid(-u): NumPy's kernel, whose ufuncs act on the whole array here too."""
    return _npK.dsigmoid(u)


def _softmax(x: Any) -> Any:
    """softmax of each vector of the batch, shifted by each one's largest entry."""
    if not isinstance(x, BArray):
        return _npK.softmax(x)
    m = np.max(np.real(x.data), axis=-1, keepdims=True)
    e = np.exp(x.data - np.where(np.isfinite(m), m, 0.0))
    return BArray(e / np.sum(e, axis=-1, keepdims=True))


def _relu(X: Any) -> Any:
    return BArray(_npK.relu(X.data)) if isinstance(X, BArray) else _npK.relu(X)


def _step(X: Any) -> Any:
    if not isinstance(X, BArray):
        return _npK.step(X)
    zero = np.real(X.data) == 0
    if np.any(zero):
        i = int(np.argmax(zero.reshape(zero.shape[0], -1).any(axis=1)))
        try:
            _npK.step(X.data[i])
        except DomainError as err:
            raise _element_error(i, err) from None
    return BArray((np.real(X.data) > 0).astype(np.float64))


def _eig(which: str) -> Any:
    """An eigen-kernel over a batch of symmetric matrices: NumPy's eigh acts on the stack at once."""
    def kernel(S: Any) -> Any:
        if not isinstance(S, BArray):
            return getattr(_npK, which)(S)
        A = np.real(S.data)
        A = (A + np.swapaxes(A, -1, -2)) / 2
        if which in ("eigvals", "eigmax", "eigmin"):
            w = np.linalg.eigvalsh(A)
            return BArray(w if which == "eigvals" else w[:, -1] if which == "eigmax" else w[:, 0])
        w, U = np.linalg.eigh(A)
        for i in range(w.shape[0]):
            try:
                _npK.eig_gap_check(w[i], {"eigvecs": "all", "eigvec_max": "max", "eigvec_min": "min"}[which])
            except DomainError as err:
                raise _element_error(i, err) from None
        return BArray(U if which == "eigvecs" else U[:, :, -1] if which == "eigvec_max" else U[:, :, 0])
    return kernel


def _expm(X: Any) -> Any:
    """expm of each matrix of the batch (SciPy's expm acts on stacks)."""
    return BArray(scipy.linalg.expm(X.data)) if isinstance(X, BArray) else _npK.expm(X)


def _expm_frechet(X: Any, E: Any) -> Any:
    """L_exp(X, E) of each element: the upper right block of expm([[X, E], [0, X]]), on the whole stack."""
    if not isinstance(X, BArray) and not isinstance(E, BArray):
        return _npK.expm_frechet(X, E)
    x, e = data(X), data(E)
    x, e = np.broadcast_arrays(x, e) if x.ndim != e.ndim else (x, e)
    n = x.shape[-1]
    top = np.concatenate([x, e], axis=-1)
    bottom = np.concatenate([np.zeros_like(x), x], axis=-1)
    return BArray(scipy.linalg.expm(np.concatenate([top, bottom], axis=-2))[..., :n, n:])


def _each(kernel: Any) -> Any:
    """A matrix-function kernel applied to each example of the batched arguments (logm, sqrtm and their Fréchet
    derivatives: SciPy's act on one matrix), a DomainError naming the batch element."""
    def run(*args: Any) -> Any:
        batched = [a for a in args if isinstance(a, BArray)]
        if not batched:
            return kernel(*args)
        out = []
        for i in range(batched[0].data.shape[0]):
            try:
                out.append(kernel(*(a.data[i] if isinstance(a, BArray) else a for a in args)))
            except DomainError as err:
                raise _element_error(i, err) from None
        return None if all(o is None for o in out) else BArray(np.stack(out))  # sym_check returns None
    return run


def _pass(S: Any) -> Any:
    """eigh of a batch or a Dask matrix: the matrix itself (sym_fun and sym_frechet decompose it per example)."""
    return S


_MATFUN = ("expm_frechet2", "logm", "logm_frechet", "logm_frechet2", "sqrtm", "sqrtm_frechet", "sqrtm_frechet2",
           "powm_frechet2", "sym_fun", "sym_frechet", "sym_check",
           "sym_trace")  # sym_*: of the matrix (eigh passes it on)
K = SimpleNamespace(sign=_sign, polar=_polar, top_sv=_top_sv, norm_fro=_norm, norm2=_norm2, norm_nuc=_norm_nuc,
                    logsumexp=_logsumexp, softmax=_softmax, relu=_relu, step=_step, gram=_gram, msum=_msum,
                    dsigmoid=_dsigmoid,
                    expm=_expm, expm_frechet=_expm_frechet, eigh=_pass, expm_pade=_pass,
                    **{k: _each(getattr(_npK, k)) for k in _MATFUN},
                    **{k: _eig(k) for k in ("eigvals", "eigmax", "eigmin", "eigvecs", "eigvec_max", "eigvec_min")})


# ---------------------------------------------------------------------------------- checks
_OK = {
    "nonzero_norm": lambda d, ax: np.any(d != 0, axis=ax),
    "no_zero_entry": lambda d, ax: np.all(d != 0, axis=ax),
    "positive": lambda d, ax: np.all(np.real(d) > 0, axis=ax),
}


def _check(kind: str, v: Any, what: str, where: str) -> None:
    if not isinstance(v, BArray):
        C.raise_check(kind, v, what, where)
        return
    test = _OK.get(kind)
    if test is None:  # top_sv / polar: the kernels themselves test every element
        return
    ok = test(v.data, _axes(v))
    if not np.all(ok):
        i = _first(~ok)
        try:
            C.raise_check(kind, v.data[i], what, where)
        except DomainError as err:
            raise _element_error(i, err) from None


def _check_positive(v: Any, what: str) -> Any:
    if not isinstance(v, BArray):
        return C.numpy_check_positive(v, what)
    bad = ~(np.real(v.data) > 0)
    if np.any(bad):
        i = _first(bad)
        try:
            C.numpy_check_positive(v.data[i], what)
        except DomainError as err:
            raise _element_error(i, err) from None
    return v


def _nonzero(v: Any, what: str) -> Any:
    if not isinstance(v, BArray):
        if v == 0:
            raise C.nonzero_error(what)
        return v
    zero = v.data == 0
    if np.any(zero):
        raise _element_error(_first(zero), C.nonzero_error(what))
    return v


def _arg(v: Any) -> Any:
    """An argument in float64 (complex128), as in the unbatched code; a stack stays a stack."""
    return BArray(_npR.arg(v.data)) if isinstance(v, BArray) else _npR.arg(v)


def _arg0(v: Any) -> Any:
    """A scalar argument: a stack of scalars (shape (B,)) or a scalar shared by the batch."""
    if isinstance(v, BArray):
        if v.ndim:
            raise BadShapes()
        return _arg(v)
    return _npR.arg0(v)


def _finite_inputs(**values: Any) -> None:
    for name, v in values.items():
        if not isinstance(v, BArray):
            if not np.all(np.isfinite(np.asarray(v))):
                raise C.not_finite_error(name)
            continue
        d = v.data
        if np.isfinite(np.sum(d)):
            continue
        bad = ~np.isfinite(d.reshape(d.shape[0], -1)).all(axis=1)
        if np.any(bad):
            raise _element_error(_first(bad), C.not_finite_error(name))


def _dot(a: Any, b: Any) -> Any:
    if isinstance(a, BArray) or isinstance(b, BArray):
        return (a * b).sum()
    return _npR.dot(a, b)


def _scalar(v: Any) -> Any:
    return v if isinstance(v, BArray) else _npR.scalar(v)


# The NumPy objects this runtime uses as they are (protocol.SHARED aside): ufuncs and scipy's expit (a ufunc too)
# act on a whole BArray by __array_ufunc__; eye and ones make constants that broadcast over the batch.
NUMPY_REUSED = frozenset({"_np.exp", "_np.log", "_np.sin", "_np.cos", "_np.tanh", "_np.sqrt", "_np.abs", "_np.sign",
                          "_np.logaddexp", "_np.eye", "_np.ones", "_expit"})


def namespace(defined: Any = None) -> dict[str, Any]:
    """The batched NumPy runtime; ``defined``: the ``_D`` of defined primitives (matdiff.define), whose NumPy
    kernels take one example at a time: here each runs once per example of the batch."""
    return {"_D": SimpleNamespace(**{k: _per_example(v) for k, v in vars(defined or SimpleNamespace()).items()}),
            "_np": NP, "_F": F, "_K": K, "_check": _check, "_check_positive": _check_positive, "_nonzero": _nonzero,
            "_finite_inputs": _finite_inputs, "_arg": _arg, "_arg0": _arg0, "_scalar": _scalar, "_dot": _dot,
            "_expit": expit, "_BadShapes": BadShapes}


def _per_example(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """A kernel of one example run over a batch: one call per example, the results stacked."""
    def run(*args: Any) -> Any:
        stacks = [a for a in args if isinstance(a, BArray)]
        if not stacks:
            return kernel(*args)
        return BArray(np.stack([np.asarray(kernel(*(a.data[i] if isinstance(a, BArray) else a for a in args)))
                                for i in range(stacks[0].data.shape[0])]))
    return run


def rebind(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The generated function fn (built for any backend) running in the batched NumPy namespace."""
    ns = namespace(fn.__globals__.get("_D"))
    return types.FunctionType(fn.__code__, ns, fn.__name__, fn.__defaults__, fn.__closure__)
