"""The namespace of generated code over an Array API library (JAX, PyTorch, CuPy).

Generated code calls NumPy-style functions (``_np.trace``, ``_np.linalg.norm``...), shared
factorizations (``_F.lu``, ``_F.solve``...) and kernels (``_K.top_sv``...).  Here they are written
once over the Array API standard (``xp``: ``jax.numpy``, or array-api-compat's wrappers of torch and
cupy) and an :class:`Ops` object that a backend supplies: its LU, Cholesky and SVD, how to read a
value back (or that it cannot: a traced or vmapped array), and how to pick a branch.

Everything is written for one example: JAX and PyTorch batch by ``vmap``, which sees per-example
shapes.  Checks read values only where they are concrete, and raise the DomainError of the NumPy
code there; under ``jax.jit``/``torch.func.vmap`` they are skipped, a logdet of a matrix with
det <= 0 is NaN, and the adjugate takes both branches and selects.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import DomainError
from . import _common as C
from . import kernels as _npK
from . import matfun as _npM
from .protocol import BadShapes


class Ops:
    """What a backend supplies (override in a subclass)."""

    name = "array api"
    xp: Any = None  # the Array API namespace

    def is_array(self, x: Any) -> bool:
        raise NotImplementedError

    def value(self, x: Any) -> np.ndarray | None:
        """x as a NumPy array, or None where its value cannot be read (traced, vmapped, lazy)."""
        raise NotImplementedError

    def like(self) -> tuple[Any, Any]:
        """(dtype, device) for arrays that generated code creates (eye, ones); None for the defaults."""
        return None, None

    def floating(self, A: Any) -> Any:
        """A as a floating (or complex) array of the backend."""
        A = self.asarray(A)
        xp = self.xp
        if not (xp.isdtype(A.dtype, "real floating") or xp.isdtype(A.dtype, "complex floating")):
            A = xp.astype(A, self.default_float())
        return A

    def default_float(self) -> Any:
        """The dtype integer and boolean inputs are computed in."""
        return self.xp.float64

    def asarray(self, x: Any) -> Any:
        if self.is_array(x):
            return x
        dtype, device = self.like()
        if isinstance(x, (bool, int, float)) and dtype is not None:
            return self.xp.asarray(x, dtype=dtype, device=device)
        return self.xp.asarray(np.asarray(x), device=device) if device is not None else self.xp.asarray(np.asarray(x))

    # -- factorizations, one square matrix (B: a matrix of right-hand sides)
    def lu_factor(self, A: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def parity(self, piv: Any) -> Any:
        """1 where the row interchanges of piv make an odd permutation, else 0 (an integer array)."""
        raise NotImplementedError

    def lu_solve(self, lu: Any, piv: Any, B: Any, trans: bool) -> Any:
        raise NotImplementedError

    def cholesky(self, A: Any) -> tuple[Any, Any]:
        """(L, info): info 0, or the 1-based column where the factorization failed."""
        raise NotImplementedError

    def cho_solve(self, L: Any, B: Any) -> Any:
        raise NotImplementedError

    def cho_inverse(self, L: Any) -> Any:
        n = L.shape[-1]
        return self.cho_solve(L, self.xp.eye(n, dtype=L.dtype, device=_device(self.xp, L)))

    def expm(self, A: Any) -> Any:
        """The matrix exponential (the backend's own)."""
        raise NotImplementedError

    def svd(self, A: Any, full: bool = False) -> tuple[Any, Any, Any]:
        return self.xp.linalg.svd(A, full_matrices=full)

    def cond(self, pred: Any, if_true: Callable[[], Any], if_false: Callable[[], Any]) -> Any:
        """if_true() where pred, else if_false(): a Python branch where pred can be read."""
        v = self.value(pred)
        if v is not None:
            return if_true() if bool(v) else if_false()
        return self.xp.where(pred, if_true(), if_false())

    def expit(self, x: Any) -> Any:
        raise NotImplementedError


def _device(xp: Any, x: Any) -> Any:
    try:
        from array_api_compat import device

        return device(x)
    except ImportError:  # pragma: no cover - jax arrays have .device
        return getattr(x, "device", None)


# ------------------------------------------------------------------------------- NumPy-style calls
class NumpyStyle:
    """``_np`` of generated code (``protocol.NumpyCalls``): the NumPy names it calls, over xp.

    The elementwise functions take Python scalars too (as NumPy's do): those become arrays of the backend."""

    def __init__(self, ops: Ops):
        self._ops = ops
        xp = self._xp = ops.xp
        self.exp = self._unary(xp.exp)
        self.log = self._unary(xp.log)
        self.sin = self._unary(xp.sin)
        self.cos = self._unary(xp.cos)
        self.tanh = self._unary(xp.tanh)
        self.sqrt = self._unary(xp.sqrt)
        self.abs = self._unary(xp.abs)
        self.sign = self._unary(xp.sign)
        self.linalg = SimpleNamespace(matrix_power=self._matrix_power)

    def _unary(self, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        ops = self._ops

        def call(x: Any) -> Any:
            return f(x if ops.is_array(x) else ops.asarray(x))
        call.__name__ = getattr(f, "__name__", "f")
        return call

    def reshape(self, x: Any, shape: Any) -> Any:
        return self._xp.reshape(self._ops.asarray(x), (shape,) if isinstance(shape, int) else tuple(shape))

    def sum(self, x: Any) -> Any:
        return self._xp.sum(x)

    def trace(self, x: Any) -> Any:
        return self._xp.linalg.trace(x)

    def diag(self, x: Any) -> Any:
        xp = self._xp
        if x.ndim == 1:
            return x[:, None] * xp.eye(x.shape[0], dtype=x.dtype, device=_device(xp, x))
        return xp.linalg.diagonal(x)

    def outer(self, a: Any, b: Any) -> Any:
        return self._xp.linalg.outer(a, b)

    def eye(self, n: int) -> Any:
        dtype, device = self._ops.like()
        return self._xp.eye(n, dtype=dtype or self._xp.float64, device=device)

    def ones(self, shape: Any) -> Any:
        dtype, device = self._ops.like()
        return self._xp.ones(shape, dtype=dtype or self._xp.float64, device=device)

    def logaddexp(self, a: Any, b: Any) -> Any:
        ops = self._ops
        a = a if ops.is_array(a) else self._xp.asarray(a, dtype=b.dtype, device=_device(self._xp, b))
        b = b if ops.is_array(b) else self._xp.asarray(b, dtype=a.dtype, device=_device(self._xp, a))
        return self._xp.logaddexp(a, b)

    def _matrix_power(self, x: Any, k: int) -> Any:
        return self._xp.linalg.matrix_power(x, k)


# --------------------------------------------------------------------------------- factorizations
class LU:
    """P A = L U, computed once and shared (as matdiff.runtime.factor.LU)."""

    __slots__ = ("ops", "a", "lu", "piv", "_checked")

    def __init__(self, ops: Ops, A: Any):
        self.ops = ops
        self.a = ops.floating(A)
        self.lu, self.piv = ops.lu_factor(self.a)
        self._checked = False

    def pivots(self) -> Any:
        xp = self.ops.xp
        return xp.abs(xp.linalg.diagonal(self.lu))

    def check(self, what: Any = "solve") -> None:
        """DomainError unless A is invertible to working precision (where its value can be read)."""
        if self._checked:
            return
        u = self.ops.value(self.pivots())
        if u is None:
            return
        C.check_pivots(u, what)
        self._checked = True

    def det(self) -> Any:
        xp = self.ops.xp
        sign = 1 - 2 * self.ops.parity(self.piv)
        return xp.astype(sign, self.lu.dtype) * xp.prod(xp.linalg.diagonal(self.lu))


class Chol:
    """A = L L' of a matrix declared symmetric positive definite."""

    __slots__ = ("ops", "a", "c")

    def __init__(self, ops: Ops, A: Any):
        self.ops = ops
        self.a = ops.floating(A)
        self.c, info = ops.cholesky(self.a)
        v = ops.value(info)
        if v is not None and int(v) != 0:
            raise C.not_spd(int(v))


class Factorizations:
    """``_F`` of generated code."""

    def __init__(self, ops: Ops):
        self.ops = ops
        self.LU = SimpleNamespace(check=self._check)

    @staticmethod
    def _check(F: LU | Chol, what: Any = "solve") -> None:
        if isinstance(F, LU):
            F.check(what)

    def lu(self, A: Any) -> LU:
        return LU(self.ops, A)

    def chol(self, A: Any) -> Chol:
        return Chol(self.ops, A)

    def _rhs(self, F: LU | Chol, B: Any) -> tuple[LU | Chol, Any, bool]:
        xp, ops = self.ops.xp, self.ops
        B = ops.asarray(B)
        dtype = xp.result_type(F.a.dtype, B.dtype)
        if dtype != F.a.dtype:  # a complex right-hand side with a real matrix (or a wider dtype): refactor
            F = type(F)(ops, xp.astype(F.a, dtype))
        if B.dtype != dtype:
            B = xp.astype(B, dtype)
        vec = B.ndim == 1
        return F, (B[:, None] if vec else B), vec

    def solve(self, F: LU | Chol, B: Any) -> Any:
        """A^-1 B."""
        F, B, vec = self._rhs(F, B)
        if isinstance(F, Chol):
            X = self.ops.cho_solve(F.c, B)
        else:
            F.check()
            X = self.ops.lu_solve(F.lu, F.piv, B, False)
        return X[:, 0] if vec else X

    def solve_t(self, F: LU | Chol, B: Any) -> Any:
        """A'^-1 B (the plain transpose)."""
        if isinstance(F, Chol):
            return self.solve(F, B)
        F, B, vec = self._rhs(F, B)
        F.check()
        X = self.ops.lu_solve(F.lu, F.piv, B, True)
        return X[:, 0] if vec else X

    def _eye(self, F: LU | Chol) -> Any:
        xp = self.ops.xp
        return xp.eye(F.a.shape[-1], dtype=F.a.dtype, device=_device(xp, F.a))

    def inv(self, F: LU | Chol) -> Any:
        if isinstance(F, Chol):
            return self.ops.cho_inverse(F.c)
        F.check(self.inv)
        return self.ops.lu_solve(F.lu, F.piv, self._eye(F), False)

    def det(self, F: LU | Chol) -> Any:
        xp = self.ops.xp
        if isinstance(F, Chol):
            return xp.prod(xp.real(xp.linalg.diagonal(F.c)) if _complex(xp, F.c) else xp.linalg.diagonal(F.c)) ** 2
        return F.det()

    def logdet(self, F: LU | Chol) -> Any:
        """log det A; DomainError where det A <= 0 (NaN where that cannot be read: traced or vmapped)."""
        xp, ops = self.ops.xp, self.ops
        if isinstance(F, Chol):
            d = xp.linalg.diagonal(F.c)
            return 2.0 * xp.sum(xp.log(xp.real(d) if _complex(xp, d) else d))
        d = xp.linalg.diagonal(F.lu)
        if _complex(xp, d):
            det = F.det()
            v = ops.value(det)
            if v is not None and v == 0:
                raise DomainError("logdet: det(A) = 0 (the matrix is singular)")
            return xp.log(det)
        sign = xp.astype(1 - 2 * ops.parity(F.piv), d.dtype) * xp.prod(xp.sign(d))
        logabs = xp.sum(xp.log(xp.abs(d)))
        v = ops.value(sign)
        if v is not None:
            if not v > 0:
                raise C.logdet_sign_error(float(ops.value(F.det())))
            return logabs
        return xp.where(sign > 0, logabs, xp.asarray(float("nan"), dtype=logabs.dtype))

    def adj(self, F: LU | Chol) -> Any:
        """adj(A): det(A) A^-1 from the factors while the pivots show A well conditioned, else by the SVD."""
        xp, ops = self.ops.xp, self.ops
        if isinstance(F, Chol):
            return self._times_det(F, self.inv(F), self.adj)
        n = F.a.shape[-1]
        if n == 1:
            return xp.ones_like(F.a)
        u = F.pivots()
        good = xp.min(u) > C.ADJ_LU_MIN_PIVOT_RATIO * xp.max(u)

        def by_lu() -> Any:
            return self._times_det(F, ops.lu_solve(F.lu, F.piv, self._eye(F), False), self.adj)

        def by_svd() -> Any:
            a = ops.value(F.a)
            if a is not None and not np.isfinite(a).all():
                return xp.full_like(F.a, float("nan"))
            U, s, Vh = ops.svd(F.a, full=True)
            return self._unscale(*C.svd_adj_scaled(xp, U, s, Vh), self.adj)
        return ops.cond(good, by_lu, by_svd)

    def adj_d(self, F: LU | Chol, E: Any) -> Any:
        """adj'(A)[E] = det(A) (tr(A^-1 E) A^-1 - A^-1 E A^-1) while the pivots show A well conditioned (as
        ``adj``), else c V Dσ(U^H E V) U^H from the SVD: exact at singular A."""
        xp, ops = self.ops.xp, self.ops
        E = ops.asarray(E)
        dtype = xp.result_type(F.a.dtype, E.dtype)
        if dtype != F.a.dtype:  # a complex direction with a real matrix: refactor in complex
            F = type(F)(ops, xp.astype(F.a, dtype))
        if E.dtype != dtype:
            E = xp.astype(E, dtype)
        n = F.a.shape[-1]
        if n == 1:
            return xp.zeros_like(E)

        def by_lu() -> Any:
            X = self.ops.cho_inverse(F.c) if isinstance(F, Chol) else ops.lu_solve(F.lu, F.piv, self._eye(F), False)
            # X E X of an A ~ 2^k is ~2^-2k and underflows (~1e-400 at A ~ 1e200) where the derivative does not:
            # far from unit scale X = X1 2^k (exact) and det(A) 2^2k taken together (NumPy's adj_d_from_inverse)
            k = C.exponent(xp, xp.max(xp.abs(X)))
            k = xp.where(xp.abs(k) < 256, xp.zeros_like(k), k)
            X1 = C.times_pow2(xp, X, -k)
            XE = xp.matmul(X1, E)
            return self._times_det(F, xp.linalg.trace(XE) * X1 - xp.matmul(XE, X1), self.adj_d, 2 * k)

        if isinstance(F, Chol):
            return by_lu()
        u = F.pivots()
        good = xp.min(u) > C.ADJ_LU_MIN_PIVOT_RATIO * xp.max(u)

        def by_svd() -> Any:
            a = ops.value(F.a)
            if a is not None and not np.isfinite(a).all():
                return xp.full_like(E, float("nan"))
            U, s, Vh = ops.svd(F.a, full=True)
            return self._unscale(*C.svd_adj_d_scaled(xp, U, s, Vh, E), self.adj_d)
        return ops.cond(good, by_lu, by_svd)

    def _times_det(self, F: LU | Chol, Y: Any, what: Any, shift: Any = None) -> Any:
        """det(A) Y, right also where det(A) alone over- or underflows (an n x n A at entries ~s: det(A) ~ s^n,
        adj(A) ~ s^(n-1)). While the plain det(A) is a finite normal number, det(A) Y (as NumPy's
        ``factor._times_det``); else det(A) = m 2^E from the pivots (``_common.prod_scaled``: per-pivot powers of 2,
        their mantissas multiplied) and det(A) Y = ((m Y) 2^h) 2^(E-h), exact in the scaling (``ops.cond``: a
        Python branch eagerly, lax.cond / where when traced). Where that underflows as a whole: DomainError
        (eagerly) or NaN (traced)."""
        xp, ops = self.ops.xp, self.ops
        if isinstance(F, Chol):
            c = xp.linalg.diagonal(F.c)
            c = xp.real(c) if _complex(xp, c) else c
            d = xp.prod(c) ** 2
        else:
            d = F.det()
        ad = xp.abs(d)
        normal = xp.isfinite(ad) & (ad >= C.tiny(xp, ad.dtype))
        if shift is not None:  # det(A) 2^shift Y: the plain product only where no shift is asked for
            normal = normal & (shift == 0)

        def scaled() -> Any:
            if isinstance(F, Chol):
                m, E = C.prod_scaled(xp, xp.concat([c, c], axis=-1))  # det(A) = prod(l_ii)^2
            else:
                m, E = C.prod_scaled(xp, xp.linalg.diagonal(F.lu))  # det(P L U) = sign(P) prod(u_ii)
                m = xp.astype(1 - 2 * ops.parity(F.piv), m.dtype) * m
            return self._unscale(m * Y, E if shift is None else E + shift, what)
        return ops.cond(normal, lambda: d * Y, scaled)

    def _unscale(self, X: Any, e: Any, what: Any) -> Any:
        """X 2^e (a matrix computed at unit scale); where it underflows as a whole, DomainError (eagerly) or NaNs
        (traced or vmapped: never zeros; the batched call's finiteness check then raises)."""
        xp = self.ops.xp
        out = C.times_pow2(xp, X, e)
        lost = C.underflows(xp, out, X)
        bad = self.ops.value(lost)
        if bad is None:
            return xp.where(lost, xp.full_like(out, float("nan")), out)
        if bool(bad):
            raise C.underflow_error(what)
        return out


def _complex(xp: Any, x: Any) -> bool:
    return xp.isdtype(x.dtype, "complex floating")


# ------------------------------------------------------------------------------------ kernels
class Kernels:
    """``_K`` of generated code (``protocol.Kernels``); their DomainErrors are NumPy's kernels' words."""

    def __init__(self, ops: Ops, F: Factorizations):
        self.ops, self.F = ops, F
        self.np_style: Any = None  # the namespace's _np (set by namespace())

    @staticmethod
    def _is_vector(X: Any) -> bool:
        return X.ndim < 2 or min(X.shape) == 1

    def sign(self, X: Any) -> Any:
        ops, xp = self.ops, self.ops.xp
        X = ops.asarray(X)
        zero = ops.value(xp.any(X == 0))
        if zero is not None and bool(zero):
            _npK.sign(ops.value(X))  # raises, with NumPy's words
        return xp.sign(X)

    def _unit(self, X: Any, kernel: Callable[[Any], Any]) -> Any:
        """X / ||X|| for a vector; at X = 0 the DomainError of NumPy's ``kernel``."""
        nrm = self.norm_fro(X)
        v = self.ops.value(nrm)
        if v is not None:
            C.check_vector_norm(float(v), kernel)
        return X / nrm

    def polar(self, X: Any) -> Any:
        X = self.ops.floating(X)
        if self._is_vector(X):
            return self._unit(X, _npK.polar)
        U, s, Vh = self.ops.svd(X)
        v = self.ops.value(s)
        if v is not None:
            C.check_polar(float(v[-1]), float(v[0]))
        return self.ops.xp.matmul(U, Vh)

    def top_sv(self, X: Any) -> Any:
        X = self.ops.floating(X)
        if self._is_vector(X):
            return self._unit(X, _npK.top_sv)
        U, s, Vh = self.ops.svd(X)
        v = self.ops.value(s[:2])
        if v is not None:
            C.check_top_sv(float(v[0]), float(v[1]))
        return self.ops.xp.linalg.outer(U[:, 0], Vh[0, :])

    def logsumexp(self, X: Any) -> Any:
        """log(sum(exp(X))) over all entries, shifted by the largest (as runtime.kernels.logsumexp)."""
        xp = self.ops.xp
        X = self.ops.floating(X)
        m = xp.max(X)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        return m + xp.log(xp.sum(xp.exp(X - m)))

    def _sym(self, S: Any) -> Any:
        xp = self.ops.xp
        S = self.ops.floating(S)
        return (S + xp.matrix_transpose(S)) / 2

    def eigvals(self, S: Any) -> Any:
        return self.ops.xp.linalg.eigvalsh(self._sym(S))

    def eigmax(self, S: Any) -> Any:
        return self.eigvals(S)[-1]

    def eigmin(self, S: Any) -> Any:
        return self.eigvals(S)[0]

    def _eigh(self, S: Any, which: str) -> Any:
        w, U = self.ops.xp.linalg.eigh(self._sym(S))
        v = self.ops.value(w)
        if v is not None:
            _npK.eig_gap_check(np.asarray(v, dtype=float), which)
        return U

    def eigvecs(self, S: Any) -> Any:
        return self._eigh(S, "all")

    def eigvec_max(self, S: Any) -> Any:
        return self._eigh(S, "max")[:, -1]

    def eigvec_min(self, S: Any) -> Any:
        return self._eigh(S, "min")[:, 0]

    def expm(self, X: Any) -> Any:
        return self.ops.expm(self.ops.floating(X))

    def expm_pade(self, X: Any) -> Any:
        """X itself (the backend's expm keeps no factors to share)."""
        return X

    def expm_frechet(self, X: Any, E: Any) -> Any:
        """L_exp(X, E): the upper right block of expm([[X, E], [0, X]]) (Higham, Functions of Matrices, (3.16))."""
        xp = self.ops.xp
        X, E = self.ops.floating(X), self.ops.floating(E)
        n = X.shape[-1]
        top = xp.concat([X, E], axis=-1)
        bottom = xp.concat([xp.zeros_like(X), X], axis=-1)
        return self.ops.expm(xp.concat([top, bottom], axis=-2))[..., :n, n:]

    def expm_frechet2(self, X: Any, E: Any, F: Any) -> Any:
        """L2_exp(X, E, F): the upper right block of L_exp([[X, E], [0, X]], [[F, 0], [0, F]])."""
        xp = self.ops.xp
        X, E, F = self.ops.floating(X), self.ops.floating(E), self.ops.floating(F)
        n = X.shape[-1]
        Z = xp.zeros_like(X)
        XB = xp.concat([xp.concat([X, E], axis=-1), xp.concat([Z, X], axis=-1)], axis=-2)
        FB = xp.concat([xp.concat([F, Z], axis=-1), xp.concat([Z, F], axis=-1)], axis=-2)
        return self.expm_frechet(XB, FB)[..., :n, n:]

    def _spectrum(self, S: Any, f: str, p: float, derivative: bool) -> tuple[Any, Any]:
        """(w, U) of eigh(S) (or of S), its spectrum checked for f where it can be read (runtime.matfun's words)."""
        w, U = S if isinstance(S, tuple) else self.eigh(S)
        v = self.ops.value(w)
        if v is not None:
            _npM.spectrum_check(f, p, np.asarray(v, dtype=float), derivative)
        return w, U

    def eigh(self, S: Any) -> tuple[Any, Any]:
        """(w, U) of a symmetric S, shared by sym_fun and sym_frechet."""
        return self.ops.xp.linalg.eigh(self._sym(S))

    def sym_check(self, S: Any, f: str, p: float = 0.0) -> None:
        """DomainError where f(S) is undefined (the spectrum, where it can be read)."""
        self._spectrum(S, f, p, derivative=False)

    def sym_fun(self, S: Any, f: str, p: float = 0.0) -> Any:
        """f(S) = U diag(f(w)) U' of a symmetric S given by its eigh (as runtime.matfun.sym_fun)."""
        xp = self.ops.xp
        w, U = self._spectrum(S, f, p, derivative=False)
        return xp.matmul(U * _npM.spectral_values(f, p, w, xp)[None, :], xp.matrix_transpose(U))

    def sym_frechet(self, S: Any, E: Any, f: str, p: float = 0.0) -> Any:
        """L_f(S, E) = U (F .* (U' E U)) U' (Daleckii–Krein, as runtime.matfun.sym_frechet), S given by its eigh."""
        xp = self.ops.xp
        w, U = self._spectrum(S, f, p, derivative=True)
        Ut = xp.matrix_transpose(U)
        inner = _npM.divided_differences(f, p, w, xp) * xp.matmul(xp.matmul(Ut, self.ops.floating(E)), U)
        return xp.matmul(xp.matmul(U, inner), Ut)

    def sym_trace(self, S: Any, E: Any, f: str, p: float = 0.0) -> Any:
        """tr(f(S) E) = sum(f(w) .* diag(U' E U)), diag(U' E U) by one product (as runtime.matfun.sym_trace), S given
        by its eigh."""
        xp = self.ops.xp
        w, U = self._spectrum(S, f, p, derivative=False)
        d = xp.sum(U * xp.matmul(self.ops.floating(E), U), axis=-2)
        return xp.sum(_npM.spectral_values(f, p, w, xp) * d)

    def dsigmoid(self, u: Any) -> Any:
        """sigmoid(u) .* sigmoid(-u) from one exp(-|u|) (as runtime.kernels.dsigmoid)."""
        xp = self.ops.xp
        t = xp.exp(-xp.abs(self.ops.asarray(u)))
        return t / ((1 + t) * (1 + t))

    def msum(self, dense: Any = (), diag: Any = (), outer: Any = ()) -> Any:
        """Matrices + diagonals + rank-1 terms (as runtime.kernels.msum, by the array's own operators here)."""
        return _npK.msum_plain(dense, diag, outer, self.np_style)

    def gram(self, X: Any, d: Any = None, shift: Any = 0.0) -> Any:
        """X' diag(d) X + shift*I (as runtime.kernels.gram, by the general product here)."""
        xp = self.ops.xp
        X = self.ops.asarray(X)
        out = xp.matmul(xp.matrix_transpose(X), X if d is None else self.ops.asarray(d)[:, None] * X)
        if isinstance(shift, (int, float)) and shift == 0:
            return out
        return out + shift * xp.eye(out.shape[-1], dtype=out.dtype, device=_device(xp, out))

    def softmax(self, x: Any) -> Any:
        """exp(x)/sum(exp(x)), shifted by the largest entry (as runtime.kernels.softmax)."""
        xp = self.ops.xp
        x = self.ops.floating(x)
        m = xp.max(x)
        e = xp.exp(x - xp.where(xp.isfinite(m), m, xp.zeros_like(m)))
        return e / xp.sum(e)

    def relu(self, X: Any) -> Any:
        xp = self.ops.xp
        X = self.ops.floating(X)
        return xp.where(X > 0, X, xp.zeros_like(X))

    def step(self, X: Any) -> Any:
        ops, xp = self.ops, self.ops.xp
        X = ops.floating(X)
        zero = ops.value(xp.any(X == 0))
        if zero is not None and bool(zero):
            _npK.step(ops.value(X))  # raises, with NumPy's words
        return xp.where(X > 0, xp.ones_like(X), xp.zeros_like(X))

    def norm_fro(self, X: Any) -> Any:
        """sqrt(sum |x|^2) without over- or underflow (as runtime.kernels.norm_fro): the plain norm first; only
        where it is infinite or below 2^-500 (float64; squares lost to underflow) is X rescaled by a power of 2
        (``ops.cond``: a Python branch where the value can be read, lax.cond / where when traced)."""
        ops, xp = self.ops, self.ops.xp
        X = ops.floating(X)
        r = xp.linalg.vector_norm(X)
        if 0 in tuple(X.shape):
            return r
        lo = C.norm_lo(xp, r.dtype)
        return ops.cond((r < lo) | (r == float("inf")), lambda: self._norm_rescaled(X, r), lambda: r)

    def _norm_rescaled(self, X: Any, r: Any) -> Any:
        """2^k ||X 2^-k||, k the exponent of max |x| (r where X is 0 or not finite); where the norm of a finite X
        exceeds the dtype's range, DomainError (eagerly) or NaN (traced)."""
        ops, xp = self.ops, self.ops.xp
        a = xp.max(xp.abs(X))
        ok = xp.isfinite(a) & (a > 0)
        k = C.exponent(xp, a)
        out = C.times_pow2(xp, xp.linalg.vector_norm(C.times_pow2(xp, X, -k)), k)
        out = xp.where(ok, out, r)
        beyond = ok & ~xp.isfinite(out)
        over = ops.value(beyond)
        if over is None:  # traced: NaN, not inf (X / inf would be zeros; the batched call's check then raises)
            return xp.where(beyond, xp.full_like(out, float("nan")), out)
        if bool(over):
            _npK.norm_fro(ops.value(X))  # raises, with NumPy's words
        return out

    def norm2(self, X: Any) -> Any:
        xp = self.ops.xp
        if self._is_vector(X):
            return self.norm_fro(X)
        return xp.linalg.matrix_norm(self.ops.floating(X), ord=2)

    def norm_nuc(self, X: Any) -> Any:
        xp = self.ops.xp
        if self._is_vector(X):
            return self.norm_fro(X)
        return xp.linalg.matrix_norm(self.ops.floating(X), ord="nuc")


# --------------------------------------------------------------------------------------- namespace
def namespace(ops: Ops, np_style: NumpyStyle | None = None) -> dict[str, Any]:
    """The globals that generated code runs in, for the backend described by ops."""
    xp = ops.xp
    F = Factorizations(ops)
    K = Kernels(ops, F)

    def check(kind: str, v: Any, what: str, where: str) -> None:
        v = ops.asarray(v)
        ok = C.guard_ok(xp, kind, v)
        if ok is not None:
            got = ops.value(ok)
            if got is None or bool(got):
                return
        value = ops.value(v)
        if value is not None:
            C.raise_check(kind, value, what, where)

    def check_positive(v: Any, what: str) -> Any:
        if ops.is_array(v):
            bad = ops.value(xp.real(v) <= 0 if _complex(xp, v) else v <= 0)
            if bad is not None and bool(bad):
                C.numpy_check_positive(ops.value(v)[()], what)
            return v
        return C.numpy_check_positive(v, what)

    def nonzero(v: Any, what: str) -> Any:
        if ops.is_array(v):
            zero = ops.value(v == 0)
            if zero is not None and bool(zero):
                raise C.nonzero_error(what)
            return v
        if v == 0:
            raise C.nonzero_error(what)
        return v

    def finite_inputs(**values: Any) -> None:
        """DomainError naming the first argument with a NaN or infinite entry (where values can be read)."""
        for name, v in values.items():
            if not ops.is_array(v):
                if not np.all(np.isfinite(np.asarray(v))):
                    raise C.not_finite_error(name)
                continue
            if not (xp.isdtype(v.dtype, "real floating") or xp.isdtype(v.dtype, "complex floating")):
                continue
            ok = ops.value(xp.isfinite(xp.sum(v)))  # one sum; a sum that overflows is looked at entry by entry
            if ok is not None and not bool(ok) and not bool(ops.value(xp.all(xp.isfinite(v)))):
                raise C.not_finite_error(name)

    def arg(v: Any) -> Any:
        """An argument of floating dtype: integers and booleans converted (float32 stays float32 here)."""
        return ops.floating(v)

    def arg0(v: Any) -> Any:
        """A scalar argument; _BadShapes for an array with more than one entry (the caller explains)."""
        if isinstance(v, (float, complex)):
            return v
        if isinstance(v, (bool, int)):
            return float(v)
        a = ops.floating(v)
        if a.ndim:
            raise BadShapes()
        return a

    def all_finite(v: Any) -> bool | None:
        """Whether a result has only finite entries (codegen.make_callable's check of the outputs): one sum read
        back (a scalar), the entries only where it is not finite; None where the value cannot be read (a traced
        or vmapped array: never forced), True for what is not a floating array of this backend."""
        if not ops.is_array(v) or not (xp.isdtype(v.dtype, "real floating") or xp.isdtype(v.dtype, "complex floating")):
            return True
        ok = ops.value(xp.isfinite(xp.sum(v)))
        if ok is None:
            return None
        return bool(ok) or bool(ops.value(xp.all(xp.isfinite(v))))

    def dot(a: Any, b: Any) -> Any:
        return xp.sum(a * b)

    def scalar(v: Any) -> Any:
        return v

    K.np_style = np_style = np_style or NumpyStyle(ops)  # msum's diag, outer and eye
    return {"_np": np_style, "_F": F, "_K": K, "_check": check, "_check_positive": check_positive,
            "_nonzero": nonzero, "_finite_inputs": finite_inputs, "_arg": arg, "_arg0": arg0, "_scalar": scalar,
            "_dot": dot, "_expit": ops.expit, "_BadShapes": BadShapes, "_all_finite": all_finite,
            "_cannot": cannot(ops.name)}


def cannot(backend: str) -> dict[str, str]:
    """The kernels an Array API backend does not have: the general logm and sqrtm (and S^p's second derivative,
    which needs a general power); a symmetric argument (declared, or by structure) runs, through eigh."""
    why = (f"{backend} has no matrix logarithm or square root of a general matrix (an argument symmetric by its "
           "type or structure runs, through eigh)")
    return {f"_K.{n}": why for n in ("logm", "logm_frechet", "logm_frechet2", "sqrtm", "sqrtm_frechet",
                                     "sqrtm_frechet2", "powm_frechet2")}
